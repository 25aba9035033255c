import { useMutation, useQuery } from '@tanstack/react-query';
import { CompleteOnboarding, InviteMember } from '@tenantry/core/api/requests';
import { type FormEvent, useState } from 'react';
import { ApiError, callOf, get, post } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';

/** How often the wizard looks again while the trial is still being provisioned. */
const PROVISIONING_POLL_MS = 1_000;

/**
 * The setup wizard of a self-serve trial (docs/self-serve.md): the organisation's name, teammates
 * invited, an optional second factor, then the vendor's app. Each step is the public API with the
 * owner's own token: `GET /v1/tenants/{id}/onboarding`, `POST …/invitations`,
 * `POST …/onboarding/complete` (which needs `settings:write`: only the trial's owners and admins).
 */
export function Welcome() {
  const tenantId = session()?.tenantId;
  const onboarding = useQuery({
    queryKey: ['onboarding', tenantId],
    queryFn: () => get('/v1/tenants/{id}/onboarding', { path: { id: tenantId ?? '' } }),
    enabled: tenantId !== undefined,
    refetchInterval: (query) => (query.state.data?.state === 'provisioning' ? PROVISIONING_POLL_MS : false),
  });
  if (tenantId === undefined) {
    return (
      <>
        <h1>Welcome</h1>
        <p role="alert">This sign-in is for no organisation: start a trial first.</p>
      </>
    );
  }
  const refused = onboarding.error instanceof ApiError ? onboarding.error : undefined;
  return (
    <>
      <h1>Set up your organisation</h1>
      {onboarding.isPending ? <Loading what="your organisation" /> : null}
      {onboarding.isError ? <ErrorNotice error={onboarding.error} /> : null}
      {onboarding.data === undefined ? null : onboarding.data.wizard_completed_at !== null ? (
        <p data-testid="wizard-done">
          Your organisation is set up. <a href={onboarding.data.app_url}>Open the app</a>
        </p>
      ) : (
        <Steps
          tenantId={tenantId}
          name={onboarding.data.name}
          appUrl={onboarding.data.app_url}
          state={onboarding.data.state}
        />
      )}
      <ApiPanel
        call={callOf('/v1/tenants/{id}/onboarding', { path: { id: tenantId } })}
        data={onboarding.data ?? refused?.problem ?? null}
      />
    </>
  );
}

function Steps({
  tenantId,
  name,
  appUrl,
  state,
}: {
  tenantId: string;
  name: string;
  appUrl: string;
  state: string;
}) {
  const [organisation, setOrganisation] = useState(name);
  const [email, setEmail] = useState('');
  const [invited, setInvited] = useState<readonly string[]>([]);
  const inviteForm = useSchemaForm(InviteMember);
  const finishForm = useSchemaForm(CompleteOnboarding);
  const invite = useMutation({
    mutationFn: (address: string) =>
      post('/v1/tenants/{id}/invitations', {
        path: { id: tenantId },
        body: { email: address, role: 'member' },
      }),
    onSuccess: (answer) => {
      setInvited((list) => [...list, answer.invitation.email]);
      setEmail('');
    },
    onError: inviteForm.refused,
  });
  const complete = useMutation({
    mutationFn: () =>
      post('/v1/tenants/{id}/onboarding/complete', { path: { id: tenantId }, body: { name: organisation } }),
    // The vendor's app signs the owner in through its own OpenID flow; the hosted session is there.
    onSuccess: (done) => window.location.assign(done.app_url),
    onError: finishForm.refused,
  });
  const provisioning = state === 'provisioning';
  const onInvite = (event: FormEvent) => {
    event.preventDefault();
    const address = email.trim();
    if (inviteForm.check({ email: address, role: 'member' })) invite.mutate(address);
  };
  const onFinish = (event: FormEvent) => {
    event.preventDefault();
    if (finishForm.check({ name: organisation })) complete.mutate();
  };
  return (
    <>
      {provisioning ? (
        <p role="status" data-testid="wizard-provisioning">
          Your organisation is still being set up; inviting opens when it is ready.
        </p>
      ) : null}
      <section aria-labelledby="step-invite">
        <h2 id="step-invite">1. Invite your team</h2>
        <form ref={inviteForm.ref} onSubmit={onInvite} className="stacked" noValidate>
          <label htmlFor="invite-email">Teammate's email</label>
          <input
            id="invite-email"
            type="email"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            autoComplete="off"
            {...inviteForm.field('email')}
          />
          <FieldError form={inviteForm} name="email" />
          <OtherErrors form={inviteForm} />
          <button type="submit" disabled={provisioning || invite.isPending}>
            Invite
          </button>
        </form>
        {invite.isError ? <ErrorNotice error={invite.error} /> : null}
        {invited.length === 0 ? null : (
          <ul aria-label="Invited" data-testid="invited">
            {invited.map((address) => (
              <li key={address}>{address} is invited</li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="step-mfa">
        <h2 id="step-mfa">2. Protect your account (optional)</h2>
        <p>
          Add a second step to your sign-in with an authenticator app:{' '}
          <a href="/account/mfa" target="_blank" rel="noreferrer">
            set up two-step verification
          </a>{' '}
          (opens in a new tab).
        </p>
      </section>
      <section aria-labelledby="step-name">
        <h2 id="step-name">3. Name your organisation and start</h2>
        <form ref={finishForm.ref} onSubmit={onFinish} className="stacked" noValidate>
          <label htmlFor="organisation-name">Organisation name</label>
          <input
            id="organisation-name"
            value={organisation}
            onChange={(event) => setOrganisation(event.target.value)}
            required
            {...finishForm.field('name')}
          />
          <FieldError form={finishForm} name="name" />
          <OtherErrors form={finishForm} />
          <button type="submit" disabled={complete.isPending}>
            Finish and open the app
          </button>
        </form>
        {complete.isError ? <ErrorNotice error={complete.error} /> : null}
        <p>When you finish, you go to {appUrl}.</p>
      </section>
    </>
  );
}

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import { type ChangeEvent, type FormEvent, useState } from 'react';
import { ApiError, callOf, get, write } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';

type SelfServe = ResponseBody<'/v1/settings/self-serve', 'get'>;
type Branding = ResponseBody<'/v1/settings/branding', 'get'>;

const VENDOR_PLACEMENTS = ['pool', 'schema', 'database'] as const;

/** The message the API gave for one field of a refused change, shown at that field. */
function fieldError(error: unknown, path: string): string | undefined {
  if (!(error instanceof ApiError) || !Array.isArray(error.problem.errors)) return undefined;
  const found = (error.problem.errors as { path?: unknown; message?: unknown }[]).find(
    (e) => e.path === path || (typeof e.path === 'string' && e.path.startsWith(`${path}.`)),
  );
  return typeof found?.message === 'string' ? found.message : undefined;
}

/** A form field's error, tied to its input for screen readers. */
function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message === undefined ? null : (
    <p className="error" id={id}>
      {message}
    </p>
  );
}

const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** The vendor's settings: self-serve sign-up and branding (`/v1/settings/…`, `settings:write`). */
export function SettingsPage() {
  const selfServe = useQuery({
    queryKey: ['settings', 'self-serve'],
    queryFn: () => get('/v1/settings/self-serve'),
  });
  const branding = useQuery({
    queryKey: ['settings', 'branding'],
    queryFn: () => get('/v1/settings/branding'),
  });
  return (
    <>
      <h1>Settings</h1>
      <section aria-labelledby="self-serve-heading">
        <h2 id="self-serve-heading">Self-serve sign-up</h2>
        {selfServe.isPending ? <Loading what="the self-serve settings" /> : null}
        {selfServe.isError ? <ErrorNotice error={selfServe.error} /> : null}
        {selfServe.data === undefined ? null : <SelfServeForm settings={selfServe.data} />}
        <ApiPanel
          call={callOf('/v1/settings/self-serve')}
          data={selfServe.data ?? null}
          label="Self-serve API"
        />
      </section>
      <section aria-labelledby="branding-heading">
        <h2 id="branding-heading">Branding</h2>
        {branding.isPending ? <Loading what="the branding" /> : null}
        {branding.isError ? <ErrorNotice error={branding.error} /> : null}
        {branding.data === undefined ? null : <BrandingForm settings={branding.data} />}
        <ApiPanel call={callOf('/v1/settings/branding')} data={branding.data ?? null} label="Branding API" />
      </section>
    </>
  );
}

function SelfServeForm({ settings }: { settings: SelfServe }) {
  const client = useQueryClient();
  const [enabled, setEnabled] = useState(settings.enabled);
  const [plans, setPlans] = useState(settings.plans.join(', '));
  const [placements, setPlacements] = useState<readonly string[]>(settings.placements);
  const [regions, setRegions] = useState(settings.regions.join(', '));
  const [appUrl, setAppUrl] = useState(settings.app_url ?? '');
  const [trialDays, setTrialDays] = useState(String(settings.trial_days));
  const save = useMutation({
    mutationFn: () =>
      write('put', '/v1/settings/self-serve', {
        body: {
          enabled,
          plans: list(plans),
          placements: placements as SelfServe['placements'],
          regions: list(regions),
          app_url: appUrl.trim() === '' ? null : appUrl.trim(),
          trial_days: Number(trialDays),
        },
      }),
    onSuccess: (saved) => client.setQueryData(['settings', 'self-serve'], saved),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const error = (path: string) => fieldError(save.error, path);
  const described = (path: string) =>
    error(path) === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': `ss-${path}-error` };
  return (
    <form onSubmit={onSubmit} className="stacked">
      <label>
        <input type="checkbox" checked={enabled} onChange={(event) => setEnabled(event.target.checked)} />{' '}
        Anyone may start a trial at <code>/signup</code>
      </label>
      <label htmlFor="ss-plans">Plans offered (keys, comma-separated; the first is the default)</label>
      <input
        id="ss-plans"
        value={plans}
        onChange={(event) => setPlans(event.target.value)}
        {...described('plans')}
      />
      <FieldError id="ss-plans-error" message={error('plans')} />
      <fieldset>
        <legend>Placements offered</legend>
        {VENDOR_PLACEMENTS.map((placement) => (
          <label key={placement}>
            <input
              type="checkbox"
              checked={placements.includes(placement)}
              onChange={(event) =>
                setPlacements((held) =>
                  event.target.checked ? [...held, placement] : held.filter((p) => p !== placement),
                )
              }
            />{' '}
            {placement}
          </label>
        ))}
      </fieldset>
      <FieldError id="ss-placements-error" message={error('placements')} />
      <label htmlFor="ss-regions">Regions offered (comma-separated; none: no choice)</label>
      <input id="ss-regions" value={regions} onChange={(event) => setRegions(event.target.value)} />
      <label htmlFor="ss-app-url">App URL (where the setup wizard ends; empty: the portal)</label>
      <input
        id="ss-app-url"
        type="url"
        value={appUrl}
        onChange={(event) => setAppUrl(event.target.value)}
        {...described('app_url')}
      />
      <FieldError id="ss-app_url-error" message={error('app_url')} />
      <label htmlFor="ss-trial-days">Trial length in days</label>
      <input
        id="ss-trial-days"
        type="number"
        min={1}
        value={trialDays}
        onChange={(event) => setTrialDays(event.target.value)}
        {...described('trial_days')}
      />
      <FieldError id="ss-trial_days-error" message={error('trial_days')} />
      <button type="submit" disabled={save.isPending}>
        Save self-serve settings
      </button>
      {save.isError && fieldError(save.error, '') === undefined ? <ErrorNotice error={save.error} /> : null}
      {save.isSuccess ? <p role="status">Saved.</p> : null}
    </form>
  );
}

function BrandingForm({ settings }: { settings: Branding }) {
  const client = useQueryClient();
  const [productName, setProductName] = useState(settings.product_name);
  const [color, setColor] = useState(settings.color);
  const [logo, setLogo] = useState<string | null>(settings.logo);
  const [logoError, setLogoError] = useState<string | undefined>();
  const save = useMutation({
    mutationFn: () =>
      write('put', '/v1/settings/branding', { body: { product_name: productName, color, logo } }),
    onSuccess: (saved) => client.setQueryData(['settings', 'branding'], saved),
  });
  const onLogo = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file === undefined) return;
    setLogoError(undefined);
    const reader = new FileReader();
    reader.onload = () => setLogo(typeof reader.result === 'string' ? reader.result : null);
    reader.onerror = () => setLogoError(`the file could not be read: ${String(reader.error?.message)}`);
    reader.readAsDataURL(file);
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const colorError = fieldError(save.error, 'color');
  const logoFieldError = logoError ?? fieldError(save.error, 'logo');
  return (
    <form onSubmit={onSubmit} className="stacked">
      <label htmlFor="brand-name">Product name</label>
      <input
        id="brand-name"
        value={productName}
        onChange={(event) => setProductName(event.target.value)}
        required
      />
      <label htmlFor="brand-color">Primary colour (#rrggbb; white text sits on it)</label>
      <input
        id="brand-color"
        value={color}
        onChange={(event) => setColor(event.target.value)}
        {...(colorError === undefined
          ? {}
          : { 'aria-invalid': true, 'aria-describedby': 'brand-color-error' })}
      />
      <FieldError id="brand-color-error" message={colorError} />
      <label htmlFor="brand-logo">Logo (PNG, JPEG, GIF or WebP, at most 64 KiB; SVG is refused)</label>
      <input
        id="brand-logo"
        type="file"
        accept="image/png,image/jpeg,image/gif,image/webp"
        onChange={onLogo}
        {...(logoFieldError === undefined
          ? {}
          : { 'aria-invalid': true, 'aria-describedby': 'brand-logo-error' })}
      />
      <FieldError id="brand-logo-error" message={logoFieldError} />
      {logo === null ? null : (
        <p>
          <img src={logo} alt="The logo" height={40} />{' '}
          <button type="button" onClick={() => setLogo(null)}>
            Remove the logo
          </button>
        </p>
      )}
      <button type="submit" disabled={save.isPending}>
        Save branding
      </button>
      {save.isError && colorError === undefined && fieldError(save.error, 'logo') === undefined ? (
        <ErrorNotice error={save.error} />
      ) : null}
      {save.isSuccess ? <p role="status">Saved.</p> : null}
    </form>
  );
}

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import { BrandingSettings, SelfServeSettings } from '@tenantry/core/api/requests';
import { type ChangeEvent, type FormEvent, useState } from 'react';
import { callOf, get, write } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';

type SelfServe = ResponseBody<'/v1/settings/self-serve', 'get'>;
type Branding = ResponseBody<'/v1/settings/branding', 'get'>;

const VENDOR_PLACEMENTS = ['pool', 'schema', 'database'] as const;

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
  const form = useSchemaForm(SelfServeSettings);
  const body = {
    enabled,
    plans: list(plans),
    placements: placements as SelfServe['placements'],
    regions: list(regions),
    app_url: appUrl.trim() === '' ? null : appUrl.trim(),
    // An empty field is no number: the check names it rather than sending 0.
    trial_days: trialDays.trim() === '' ? undefined : Number(trialDays),
  };
  const save = useMutation({
    mutationFn: (checked: SelfServe) => write('put', '/v1/settings/self-serve', { body: checked }),
    onSuccess: (saved) => client.setQueryData(['settings', 'self-serve'], saved),
    onError: form.refused,
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    // Checked: trial_days is a number and the placements the API's own.
    if (form.check(body)) save.mutate(body as SelfServe);
  };
  return (
    <form ref={form.ref} onSubmit={onSubmit} className="stacked" noValidate>
      <label>
        <input type="checkbox" checked={enabled} onChange={(event) => setEnabled(event.target.checked)} />{' '}
        Anyone may start a trial at <code>/signup</code>
      </label>
      <label htmlFor="ss-plans">Plans offered (keys, comma-separated; the first is the default)</label>
      <input
        id="ss-plans"
        value={plans}
        onChange={(event) => setPlans(event.target.value)}
        {...form.field('plans')}
      />
      <FieldError form={form} name="plans" />
      <fieldset {...form.field('placements')}>
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
      <FieldError form={form} name="placements" />
      <label htmlFor="ss-regions">Regions offered (comma-separated; none: no choice)</label>
      <input
        id="ss-regions"
        value={regions}
        onChange={(event) => setRegions(event.target.value)}
        {...form.field('regions')}
      />
      <FieldError form={form} name="regions" />
      <label htmlFor="ss-app-url">App URL (where the setup wizard ends; empty: the portal)</label>
      <input
        id="ss-app-url"
        type="url"
        value={appUrl}
        onChange={(event) => setAppUrl(event.target.value)}
        {...form.field('app_url')}
      />
      <FieldError form={form} name="app_url" />
      <label htmlFor="ss-trial-days">Trial length in days</label>
      <input
        id="ss-trial-days"
        type="number"
        value={trialDays}
        onChange={(event) => setTrialDays(event.target.value)}
        {...form.field('trial_days')}
      />
      <FieldError form={form} name="trial_days" />
      <OtherErrors form={form} />
      <button type="submit" disabled={save.isPending}>
        Save self-serve settings
      </button>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
      {save.isSuccess ? <p role="status">Saved.</p> : null}
    </form>
  );
}

function BrandingForm({ settings }: { settings: Branding }) {
  const client = useQueryClient();
  const [productName, setProductName] = useState(settings.product_name);
  const [color, setColor] = useState(settings.color);
  const [logo, setLogo] = useState<string | null>(settings.logo);
  const form = useSchemaForm(BrandingSettings);
  const body = { product_name: productName, color, logo };
  const save = useMutation({
    mutationFn: () => write('put', '/v1/settings/branding', { body }),
    onSuccess: (saved) => client.setQueryData(['settings', 'branding'], saved),
    onError: form.refused,
  });
  const onLogo = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file === undefined) return;
    const reader = new FileReader();
    reader.onload = () => setLogo(typeof reader.result === 'string' ? reader.result : null);
    reader.onerror = () =>
      form.flag('logo', `logo: the file could not be read: ${String(reader.error?.message)}`);
    reader.readAsDataURL(file);
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) save.mutate();
  };
  return (
    <form ref={form.ref} onSubmit={onSubmit} className="stacked" noValidate>
      <label htmlFor="brand-name">Product name</label>
      <input
        id="brand-name"
        value={productName}
        onChange={(event) => setProductName(event.target.value)}
        required
        {...form.field('product_name')}
      />
      <FieldError form={form} name="product_name" />
      <label htmlFor="brand-color">Primary colour (#rrggbb; white text sits on it)</label>
      <input
        id="brand-color"
        value={color}
        onChange={(event) => setColor(event.target.value)}
        {...form.field('color')}
      />
      <FieldError form={form} name="color" />
      <label htmlFor="brand-logo">Logo (PNG, JPEG, GIF or WebP, at most 64 KiB; SVG is refused)</label>
      <input
        id="brand-logo"
        type="file"
        accept="image/png,image/jpeg,image/gif,image/webp"
        onChange={onLogo}
        {...form.field('logo')}
      />
      <FieldError form={form} name="logo" />
      {logo === null ? null : (
        <p>
          <img src={logo} alt="The logo" height={40} />{' '}
          <button type="button" onClick={() => setLogo(null)}>
            Remove the logo
          </button>
        </p>
      )}
      <OtherErrors form={form} />
      <button type="submit" disabled={save.isPending}>
        Save branding
      </button>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
      {save.isSuccess ? <p role="status">Saved.</p> : null}
    </form>
  );
}

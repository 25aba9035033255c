import { useState } from 'react';

/**
 * A secret the API answered once (a new API key): shown with a copy button until the person is
 * done with it. It lives in this component's state only, so a reload or leaving the page loses it
 * for good; the API never answers it again.
 */
export function SecretOnce({ label, secret, onDone }: { label: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard.writeText(secret).then(
      () => setCopied(true),
      (error: unknown) => console.warn('copying to the clipboard failed', error),
    );
  };
  return (
    <section className="secret-once" aria-label={label} data-testid="secret-once">
      <p>
        <strong>{label}.</strong> Copy it now: it is shown only this once, and Tenantry keeps only its hash.
      </p>
      <pre data-testid="secret-value">{secret}</pre>
      <button type="button" onClick={copy}>
        Copy key
      </button>
      <span role="status">{copied ? 'Copied' : ''}</span>{' '}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

import { useState } from 'react';

/**
 * A secret the API answered once (a new API key, an invitation's link): shown with a copy button
 * until the person is done with it. It lives in this component's state only, so a reload or leaving the page loses it
 * for good; the API never answers it again.
 */
export function SecretOnce({
  label,
  secret,
  note,
  copy: copyLabel,
  onDone,
}: {
  label: string;
  secret: string;
  /** Why it is shown only now, e.g. "Tenantry keeps only its hash". */
  note: string;
  /** The copy button's words, e.g. "Copy key". */
  copy: string;
  onDone: () => void;
}) {
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
        <strong>{label}.</strong> Copy it now: it is shown only this once. {note}
      </p>
      <pre data-testid="secret-value">{secret}</pre>
      <button type="button" onClick={copy}>
        {copyLabel}
      </button>
      <span role="status">{copied ? 'Copied' : ''}</span>{' '}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

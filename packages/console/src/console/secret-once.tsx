import { useState } from 'react';

/**
 * A secret the API answers once (a new API key, a webhook endpoint's signing secret): shown with
 * a copy button until the person leaves the page. It is kept in this component's state only, so
 * a reload or another page does not show it again, as the API will not.
 */
export function SecretOnce({
  label,
  secret,
  onDone,
}: {
  label: string;
  /** Null when the API answered the replay of an earlier request, which never holds the secret. */
  secret: string | null;
  onDone: () => void;
}) {
  const [copied, setCopied] = useState(false);
  if (secret === null) {
    return (
      <section className="secret-once" aria-label={label}>
        <p role="alert">
          <strong>{label}</strong> was shown to an earlier request and is not stored: if it was lost, revoke
          this key and create another.
        </p>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </section>
    );
  }
  const copy = () => {
    navigator.clipboard.writeText(secret).then(
      () => setCopied(true),
      (error: unknown) => console.warn('copying to the clipboard failed', error),
    );
  };
  return (
    <section className="secret-once" aria-label={label}>
      <p>
        <strong>{label}</strong>: copy it now. It is shown this once: the API never answers it again.
      </p>
      <code data-testid="secret">{secret}</code>{' '}
      <button type="button" onClick={copy}>
        Copy
      </button>{' '}
      <span role="status">{copied ? 'Copied' : ''}</span>{' '}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

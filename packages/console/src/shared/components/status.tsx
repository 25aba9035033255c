import { ApiError } from '../api.ts';

/** A query's error, with the API's problem code when it is one. */
export function ErrorNotice({ error }: { error: unknown }) {
  const text =
    error instanceof ApiError
      ? `${error.message} [${error.code}]`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <p role="alert" className="error">
      {text}
    </p>
  );
}

/** Shown while a query loads. */
export function Loading({ what }: { what: string }) {
  return (
    <p role="status" className="loading">
      Loading {what}…
    </p>
  );
}

/** A tenant's state as a labelled badge: text, never colour alone. */
export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${state}`}>{state.replace(/_/g, ' ')}</span>;
}

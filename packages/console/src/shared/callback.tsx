import { useRouter } from '@tanstack/react-router';
import { useEffect, useState } from 'react';
import { completeSignIn, type EntryPoint } from './auth.ts';

/** The OpenID callback: exchanges the code, then goes back to where the sign-in started. */
export function Callback({ entry }: { entry: EntryPoint }) {
  const router = useRouter();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let cancelled = false;
    completeSignIn(entry, new URL(location.href)).then(
      (returnTo) => {
        if (!cancelled) router.history.replace(returnTo);
      },
      (failure: unknown) => {
        if (!cancelled) setError(failure instanceof Error ? failure.message : String(failure));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [entry, router]);
  if (error === undefined) return <p role="status">Signing in…</p>;
  return (
    <>
      <h1>Sign-in failed</h1>
      <p role="alert">{error}</p>
      <p>
        <a href={`/${entry}/`}>Sign in again</a>
      </p>
    </>
  );
}

import { QueryCache, QueryClient } from '@tanstack/react-query';
import { ApiError, SignedOutError } from './api.ts';
import { type EntryPoint, forget, signIn } from './auth.ts';

/**
 * The query client of an entry point: a call refused for the session (expired token, user
 * removed) signs in again, and a problem the API answered (4xx) is not retried: asking again
 * gets the same answer.
 */
export function queryClient(entry: EntryPoint): QueryClient {
  const signedOut = (error: unknown) => {
    if (!(error instanceof SignedOutError)) return;
    forget();
    signIn(entry, `${location.pathname}${location.search}`).catch((failure: unknown) =>
      console.error('could not start the sign-in', failure),
    );
  };
  return new QueryClient({
    queryCache: new QueryCache({ onError: signedOut }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        retry: (count, error) =>
          !(error instanceof SignedOutError) &&
          !(error instanceof ApiError && error.status < 500) &&
          count < 2,
      },
      mutations: { onError: signedOut },
    },
  });
}

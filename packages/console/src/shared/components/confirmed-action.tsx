import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorNotice } from './status.tsx';
import { TypedConfirm } from './typed-confirm.tsx';

/**
 * A button for an action on one row that hurts when mistaken (revoke a key, remove a member,
 * delete a secret…), in the operator console and the tenant portal alike: it asks for `expected`
 * (the row's name, email or id) to be typed before it calls `run`; `onDone` refreshes what the
 * page shows. The button is named with the row (`Remove… ana@example.com`), so that each row's
 * stands apart for a screen reader; the API's refusal, if any, is shown beside it.
 */
export function ConfirmedAction({
  label,
  words,
  expected,
  run,
  onDone,
}: {
  /** The button's words, e.g. "Revoke…". */
  label: string;
  /** The confirming button's words, e.g. "Revoke key ci". */
  words: string;
  expected: string;
  run: () => Promise<unknown>;
  /** Refreshes the page; a promise it returns keeps the action busy until it settles. */
  onDone: () => unknown;
}) {
  const [asking, setAsking] = useState(false);
  const action = useMutation({
    mutationFn: run,
    onSuccess: () => {
      setAsking(false);
      return onDone();
    },
  });
  return (
    <>
      {asking ? (
        <TypedConfirm
          action={words}
          expected={expected}
          busy={action.isPending}
          onConfirm={() => action.mutate()}
          onCancel={() => setAsking(false)}
        />
      ) : (
        <button type="button" onClick={() => setAsking(true)} aria-label={`${label} ${expected}`}>
          {label}
        </button>
      )}
      {action.isError ? <ErrorNotice error={action.error} /> : null}
    </>
  );
}

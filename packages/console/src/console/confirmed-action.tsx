import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorNotice, TypedConfirm } from '../shared/components/index.ts';

/**
 * A button for an operator action on one row (revoke a key, remove a member…) that asks for
 * `expected` (the row's name, email or id) to be typed before it calls `run`; `onDone` refreshes
 * what the page shows. The API's refusal, if any, is shown beside it.
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
  onDone: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const action = useMutation({
    mutationFn: run,
    onSuccess: () => {
      setAsking(false);
      onDone();
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

import { type FormEvent, useId, useState } from 'react';

/**
 * A confirmation for an action that hurts when mistaken: the person types `expected` (the
 * tenant's slug) before the button does anything. Not a modal, so no focus trap to get wrong.
 */
export function TypedConfirm({
  action,
  expected,
  busy,
  onConfirm,
  onCancel,
}: {
  /** The button's words, e.g. "Suspend acme". */
  action: string;
  expected: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const [typed, setTyped] = useState('');
  const id = useId();
  const matches = typed === expected;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (matches && !busy) onConfirm();
  };
  return (
    <form className="confirm" onSubmit={submit} aria-label={`Confirm: ${action}`}>
      <label htmlFor={id}>
        Type <strong>{expected}</strong> to confirm
      </label>
      <input
        id={id}
        value={typed}
        onChange={(event) => setTyped(event.target.value)}
        autoComplete="off"
        spellCheck={false}
        // biome-ignore lint/a11y/noAutofocus: the form opens on the person's own click, to be typed into
        autoFocus
      />
      <button type="submit" disabled={!matches || busy}>
        {action}
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

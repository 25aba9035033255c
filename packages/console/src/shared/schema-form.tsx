import { useCallback, useEffect, useId, useRef, useState } from 'react';
import type { z } from 'zod';
import { type FieldErrors, problemFieldErrors, validateWith } from './form-check.ts';

/** The attributes {@link SchemaForm.field} gives an input: its error is read out with it. */
export interface FieldProps {
  readonly 'aria-invalid'?: true;
  readonly 'aria-describedby'?: string;
}

/** What {@link useSchemaForm} gives a form. */
export interface SchemaForm {
  /** The form's element (or the element holding its fields), for focusing the first invalid field. */
  readonly ref: (element: HTMLElement | null) => void;
  /**
   * Checks the body the form is about to send: true when it may be sent, false when not (its
   * errors shown, focus on the first invalid field). The form sends the values it checked.
   */
  check(values: unknown): boolean;
  /** Shows the fields a refused write names (call it from the mutation's `onError`). */
  refused(error: unknown): void;
  /** Shows one field's error that no schema can find (a file the browser could not read). */
  flag(name: string, message: string): void;
  /** The attributes of the input of the body member `name`. */
  field(name: string): FieldProps;
  /** The message of `name` (or of one of its entries, `event_types.0`), if any. */
  errorOf(name: string): string | undefined;
  /** The DOM id of `name`'s message. */
  errorId(name: string): string;
  /** The errors of members the form has no input for, as `[path, message]`. */
  others(): readonly (readonly [string, string])[];
}

/**
 * A form checked with the API's own request schema (`@tenantry/core/api/requests`) before it sends:
 * each issue beside its field (`aria-invalid`, `aria-describedby`, a message naming the field),
 * focus on the first invalid field, nothing sent while any is. The fields a refused write names
 * (`errors[].path` of the problem) are shown the same way.
 *
 * @example
 * ```tsx
 * const form = useSchemaForm(InviteMember);
 * const submit = (event: FormEvent) => {
 *   event.preventDefault();
 *   const body = { email, role };
 *   if (form.check(body)) invite.mutate(body);
 * };
 * <form ref={form.ref} onSubmit={submit} noValidate>
 *   <input id={emailId} {...form.field('email')} /> <FieldError form={form} name="email" />
 *   …
 *   <OtherErrors form={form} />
 * ```
 */
export function useSchemaForm(schema: z.ZodType): SchemaForm {
  const container = useRef<HTMLElement | null>(null);
  const ref = useCallback((element: HTMLElement | null) => {
    container.current = element;
  }, []);
  const [errors, setErrors] = useState<FieldErrors>({});
  // Raised each time errors are shown, so that focus moves once they are rendered, not on every render.
  const [shown, setShown] = useState(0);
  const base = useId();
  // The members that have an input, registered as the form renders them; the rest are "others".
  const fields = useRef(new Set<string>());

  useEffect(() => {
    if (shown === 0) return;
    const invalid = container.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    // A group (a fieldset of checkboxes) is not focusable itself: its first control is.
    const target = invalid?.matches('fieldset')
      ? invalid.querySelector<HTMLElement>('input, select')
      : invalid;
    target?.focus();
  }, [shown]);

  const show = (found: FieldErrors) => {
    setErrors(found);
    if (Object.keys(found).length > 0) setShown((count) => count + 1);
  };
  const errorOf = (name: string) =>
    errors[name] ?? Object.entries(errors).find(([path]) => path.startsWith(`${name}.`))?.[1];
  const errorId = (name: string) => `${base}-${name}-error`;

  return {
    ref,
    check(values) {
      const checked = validateWith(schema, values);
      show(checked.ok ? {} : checked.errors);
      return checked.ok;
    },
    refused(error) {
      show(problemFieldErrors(error));
    },
    flag(name, message) {
      show({ [name]: message });
    },
    field(name) {
      fields.current.add(name);
      return errorOf(name) === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': errorId(name) };
    },
    errorOf,
    errorId,
    others() {
      const named = [...fields.current];
      return Object.entries(errors).filter(
        ([path]) => !named.some((name) => path === name || path.startsWith(`${name}.`)),
      );
    },
  };
}

/** A field's message, beside its input; the input's `aria-describedby` points at it. */
export function FieldError({ form, name }: { form: SchemaForm; name: string }) {
  const message = form.errorOf(name);
  if (message === undefined) return null;
  return (
    <span id={form.errorId(name)} className="field-error">
      {message}
    </span>
  );
}

/** The messages of members the form has no input for (put it after the inputs, before the button). */
export function OtherErrors({ form }: { form: SchemaForm }) {
  const others = form.others();
  if (others.length === 0) return null;
  return (
    <ul className="field-error" aria-label="Other problems">
      {others.map(([path, message]) => (
        <li key={path}>{message}</li>
      ))}
    </ul>
  );
}

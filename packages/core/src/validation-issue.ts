import type { z } from 'zod';
import type { FieldError } from './errors.ts';

/**
 * One problem found while validating structured input (a plan file, overrides). `path` is the
 * list of keys and indices leading to the offending value, so that the server can map it to a
 * line of the YAML source; `message` is a sentence for the person who wrote the input.
 */
export interface ValidationIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** `path` in the dotted form field errors use: `['plans', 'pro', 'prices', 0]` → `plans.pro.prices.0`. */
export function dottedPath(path: readonly (string | number)[]): string {
  return path.join('.');
}

/** {@link ValidationIssue}s as {@link FieldError}s with dotted paths. */
export function toFieldErrors(issues: readonly ValidationIssue[]): FieldError[] {
  return issues.map((issue) => ({ path: dottedPath(issue.path), message: issue.message }));
}

/** The rule for every key in plan files and overrides, worded for people. */
export const KEY_RULE =
  'use lowercase letters, digits and underscores, starting with a letter, at most 63 characters';

/**
 * Zod's issues rewritten as sentences that name the field, one issue per unknown key. Zod's own
 * messages ("Invalid input: expected number, received string") are written for developers; plan
 * files are written by people who may never have seen zod. Parse with `reportInput: true` so
 * that messages can quote the offending value. Messages of `custom` issues and of non-
 * discriminated unions are kept as written by the schema, which words them for people.
 */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  const result: ValidationIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((key): key is string | number => typeof key !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        result.push({ path: [...path, key], message: `unknown field "${key}"${whereIn(path)}` });
      }
      continue;
    }
    result.push({ path, message: describe(issue, path) });
  }
  return result;
}

function describe(issue: z.core.$ZodIssue, path: readonly (string | number)[]): string {
  const field = label(path);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `${field} is required`;
      return `${field} must be ${expected(issue.expected)}, not ${describeValue(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'set') {
        return `${field} must have at least ${issue.minimum} ${issue.minimum === 1 ? 'entry' : 'entries'}`;
      }
      if (issue.origin === 'string') {
        const minimum = Number(issue.minimum);
        return minimum <= 1
          ? `${field} must not be empty`
          : `${field} must be at least ${minimum} characters long`;
      }
      return `${field} must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${issue.minimum}, not ${describeValue(issue.input)}`;
    case 'too_big':
      if (issue.origin === 'array' || issue.origin === 'set') {
        return `${field} must have at most ${issue.maximum} entries`;
      }
      if (issue.origin === 'string') return `${field} must be at most ${issue.maximum} characters long`;
      return `${field} must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}, not ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `${field} must be ${oneOf(issue.values)}, not ${describeValue(issue.input)}`;
    case 'invalid_key':
      return `${describeValue(issue.input)} is not a valid key${whereIn(path.slice(0, -1))}: ${KEY_RULE}`;
    case 'invalid_format':
      return `${field} ${describeValue(issue.input)} is not valid: ${issue.message}`;
    case 'invalid_union':
      if (issue.input === undefined) return `${field} is required`;
      if (issue.discriminator !== undefined && 'options' in issue && issue.options !== undefined) {
        // The issue stands at the discriminator's path but carries the whole object as input.
        const input = issue.input;
        const value =
          typeof input === 'object' && input !== null && Object.hasOwn(input, issue.discriminator)
            ? (input as Record<string, unknown>)[issue.discriminator]
            : undefined;
        if (value === undefined) return `${field} is required: write ${oneOf(issue.options)}`;
        return `${field} must be ${oneOf(issue.options)}, not ${describeValue(value)}`;
      }
      return `${field} ${issue.message}`;
    case 'not_multiple_of':
      return `${field} must be a multiple of ${issue.divisor}`;
    default:
      return issue.message;
  }
}

/** A name for the field at `path`: its key, or `features[2]` for a list entry. */
function label(path: readonly (string | number)[]): string {
  const last = path.at(-1);
  if (last === undefined) return 'the input';
  if (typeof last === 'string') return last;
  const parent = path.at(-2);
  return typeof parent === 'string' ? `${parent}[${last}]` : `entry ${last}`;
}

function whereIn(path: readonly (string | number)[]): string {
  return path.length === 0 ? '' : ` in ${dottedPath(path)}`;
}

function expected(type: string): string {
  switch (type) {
    case 'int':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping of keys to values';
    default:
      return type;
  }
}

function oneOf(values: readonly unknown[]): string {
  const quoted = values.map((value) => JSON.stringify(value));
  if (quoted.length === 1) return quoted[0] ?? '';
  return `one of ${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

/** A short description of an input value, quoting scalars and naming the type of structures. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

import type { ConfigValue } from './plan-definition.ts';

/** The types a config key may be declared with. */
export const CONFIG_TYPES = ['integer', 'number', 'string', 'boolean'] as const;

/** The declared type of a config key; `integer` values are numbers for which `Number.isInteger` holds. */
export type ConfigType = (typeof CONFIG_TYPES)[number];

/** Whether `value` is a value of config type `type`. */
export function matchesConfigType(value: unknown, type: ConfigType): value is ConfigValue {
  switch (type) {
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
  }
}

/**
 * The narrowest config type `value` belongs to. Overrides use it to compare a value with the
 * plan's, because a resolved plan keeps values, not declarations.
 */
export function configTypeOf(value: ConfigValue): ConfigType {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  return Number.isInteger(value) ? 'integer' : 'number';
}

/** `type` as words for messages: "an integer", "a string". */
export function configTypePhrase(type: ConfigType): string {
  switch (type) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
  }
}

import { expect, test } from 'vitest';
import { isId, newId } from './ids.ts';

test('isId knows the ids newId makes, and nothing else, as a cursor check needs', () => {
  const id = newId('clk');
  expect(isId('clk', id)).toBe(true);
  expect(isId('spb', newId('spb'))).toBe(true);
  for (const text of [
    newId('spb'),
    id.toUpperCase(),
    `${id}0`,
    id.slice(0, -1),
    `${id.slice(0, -1)}u`,
    'clk_',
    'clk_x',
    "clk_' or 1=1 --",
    ` ${id}`,
    `${id}\n`,
  ])
    expect(isId('clk', text), text).toBe(false);
});

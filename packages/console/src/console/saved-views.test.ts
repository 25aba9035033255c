import { describe, expect, it } from 'vitest';
import {
  describeFilters,
  MAX_VIEWS,
  readViews,
  removeView,
  SAVED_VIEWS_KEY,
  saveView,
  viewFilters,
} from './saved-views.ts';

/** A Storage over a Map: what localStorage does with strings. */
function memoryStorage(initial: Record<string, string> = {}) {
  const items = new Map(Object.entries(initial));
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => {
      items.set(key, value);
    },
  };
}

describe('saved views', () => {
  it('saves, reads back sorted by name, replaces a view of the same name and removes one', () => {
    const storage = memoryStorage();
    expect(saveView(storage, ' Suspended ', { state: 'suspended' }).ok).toBe(true);
    expect(saveView(storage, 'Acme on schema', { search: 'acme', placement: 'schema' }).ok).toBe(true);
    expect(saveView(storage, 'Suspended', { state: 'suspended', plan: 'pro' }).ok).toBe(true);
    expect(readViews(storage)).toEqual([
      { name: 'Acme on schema', filters: { search: 'acme', placement: 'schema' } },
      { name: 'Suspended', filters: { state: 'suspended', plan: 'pro' } },
    ]);
    expect(removeView(storage, 'Suspended').map((view) => view.name)).toEqual(['Acme on schema']);
  });

  it('keeps only the list filters, and refuses an empty or overlong name', () => {
    const url = { search: 'a', state: '', limit: 100, cursor: 'x', view: 'usage' };
    expect(viewFilters(url)).toEqual({ search: 'a' });
    const storage = memoryStorage();
    expect(saveView(storage, '  ', {})).toEqual({ ok: false, reason: 'Give the view a name.' });
    expect(saveView(storage, 'x'.repeat(61), {}).ok).toBe(false);
    expect(readViews(storage)).toEqual([]);
  });

  it('stops at MAX_VIEWS', () => {
    const storage = memoryStorage();
    for (let i = 0; i < MAX_VIEWS; i++) expect(saveView(storage, `view ${i}`, {}).ok).toBe(true);
    expect(saveView(storage, 'one more', {}).ok).toBe(false);
    // Replacing one of them is not one more.
    expect(saveView(storage, 'view 3', { state: 'active' }).ok).toBe(true);
  });

  it('reads what is not a list of views as none, and drops entries of the wrong shape', () => {
    expect(readViews(memoryStorage({ [SAVED_VIEWS_KEY]: '{not json' }))).toEqual([]);
    expect(readViews(memoryStorage({ [SAVED_VIEWS_KEY]: '{"name":"x"}' }))).toEqual([]);
    const mixed = JSON.stringify([
      null,
      { name: 'ok', filters: { state: 'active', evil: '<script>' } },
      { name: 3, filters: {} },
      { name: 'no filters' },
    ]);
    expect(readViews(memoryStorage({ [SAVED_VIEWS_KEY]: mixed }))).toEqual([
      { name: 'ok', filters: { state: 'active' } },
    ]);
  });

  it('describes filters in words', () => {
    expect(describeFilters({})).toBe('all tenants');
    expect(describeFilters({ plan: 'pro', search: 'acme' })).toBe('search acme, plan pro');
  });
});

import { readViews, removeView, type SavedView, saveView, type ViewFilters } from './saved-views.ts';

/**
 * The saved views in this browser's localStorage, as a store the list and the command palette
 * both read: a view saved on one is offered by the other at once, and a view saved in another tab
 * shows here too (the `storage` event).
 */
let views: readonly SavedView[] = readViews(localStorage);
const listeners = new Set<() => void>();

function changed(next: readonly SavedView[]): void {
  views = next;
  for (const listener of listeners) listener();
}

window.addEventListener('storage', () => changed(readViews(localStorage)));

export const viewsChanged = {
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  snapshot: (): readonly SavedView[] => views,
};

/** Saves the filters under `name`; answers why not when it cannot. */
export function storeView(name: string, filters: ViewFilters): string | undefined {
  const saved = saveView(localStorage, name, filters);
  if (!saved.ok) return saved.reason;
  changed(saved.views);
  return undefined;
}

export function deleteView(name: string): void {
  changed(removeView(localStorage, name));
}

export type { SavedView };

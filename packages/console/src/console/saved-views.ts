/**
 * Saved views of the tenant list: a name for a set of filters (the list's URL search), kept in
 * this browser's localStorage. Per browser, on purpose: a view holds nothing secret (filters a
 * link carries anyway), so no server state is needed for it; views shared by the whole staff
 * would need an API of their own. The router checks a view's filters when it is opened, as it
 * checks any link's, so what is read back here is only checked for its shape.
 */

/** The filters of a view, as the list's URL keeps them. */
export type ViewFilters = Readonly<Partial<Record<(typeof FILTER_KEYS)[number], string>>>;

export interface SavedView {
  readonly name: string;
  readonly filters: ViewFilters;
}

export const FILTER_KEYS = ['search', 'state', 'placement', 'plan'] as const;
export const SAVED_VIEWS_KEY = 'tenantry.console.tenant-views';
/** Enough for any operator's habits; a list longer than this is a list nobody reads. */
export const MAX_VIEWS = 50;
export const MAX_NAME = 60;

/** The filters of a search as a view keeps them: the known keys with a non-empty string. */
export function viewFilters(
  search: Readonly<Partial<Record<(typeof FILTER_KEYS)[number], unknown>>>,
): ViewFilters {
  const filters: Partial<Record<(typeof FILTER_KEYS)[number], string>> = {};
  for (const key of FILTER_KEYS) {
    const value = search[key];
    if (typeof value === 'string' && value !== '') filters[key] = value;
  }
  return filters;
}

/** The saved views, by name; what is not a list of views (another program's key, a hand edit) is none. */
export function readViews(storage: Pick<Storage, 'getItem'>): SavedView[] {
  const text = storage.getItem(SAVED_VIEWS_KEY);
  if (text === null) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: not ours to read, and overwritten at the next save.
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return [];
    const { name, filters } = item as { name?: unknown; filters?: unknown };
    if (typeof name !== 'string' || name.trim() === '' || typeof filters !== 'object' || filters === null)
      return [];
    return [{ name: name.slice(0, MAX_NAME), filters: viewFilters(filters) }];
  });
}

/**
 * Saves the filters under `name` (trimmed): a view of that name is replaced, the list kept sorted
 * by name and at most MAX_VIEWS long. Answers the views as saved, or why nothing was.
 */
export function saveView(
  storage: Pick<Storage, 'getItem' | 'setItem'>,
  name: string,
  filters: ViewFilters,
): { ok: true; views: SavedView[] } | { ok: false; reason: string } {
  const trimmed = name.trim();
  if (trimmed === '') return { ok: false, reason: 'Give the view a name.' };
  if (trimmed.length > MAX_NAME) return { ok: false, reason: `A name is at most ${MAX_NAME} characters.` };
  const others = readViews(storage).filter((view) => view.name !== trimmed);
  if (others.length >= MAX_VIEWS)
    return { ok: false, reason: `At most ${MAX_VIEWS} views; remove one first.` };
  const views = [...others, { name: trimmed, filters: viewFilters(filters) }].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  storage.setItem(SAVED_VIEWS_KEY, JSON.stringify(views));
  return { ok: true, views };
}

/** Removes the view named `name`; answers the views left. */
export function removeView(storage: Pick<Storage, 'getItem' | 'setItem'>, name: string): SavedView[] {
  const views = readViews(storage).filter((view) => view.name !== name);
  storage.setItem(SAVED_VIEWS_KEY, JSON.stringify(views));
  return views;
}

/** How a view's filters read, for its entry in the list: "state suspended, search acme". */
export function describeFilters(filters: ViewFilters): string {
  const parts = FILTER_KEYS.flatMap((key) => (filters[key] === undefined ? [] : [`${key} ${filters[key]}`]));
  return parts.length === 0 ? 'all tenants' : parts.join(', ');
}

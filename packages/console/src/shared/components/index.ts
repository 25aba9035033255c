/**
 * The components both entry points (operator console, tenant portal) share. The console's entry
 * imports this file, so what it re-exports goes into the chunk every page loads, the fleet home's
 * first; what only lists and row actions use is imported from its own module instead, for the
 * pages that show it to load it: `confirmed-action.tsx`, `cursor-pages.ts`, `paged-table.tsx` and
 * `virtual-table.tsx` (with TanStack Virtual).
 */
export { ApiPanel } from './api-panel.tsx';
export { CommandPalette, type PaletteItem, usePaletteActions } from './command-palette.tsx';
export { LoadMore } from './load-more.tsx';
export { Shell } from './shell.tsx';
export { ErrorNotice, Loading, StateBadge } from './status.tsx';
export { TypedConfirm } from './typed-confirm.tsx';
export type { Column } from './virtual-table.tsx';

/** The components both entry points (operator console, tenant portal) share. */
export { ApiPanel } from './api-panel.tsx';
export { CommandPalette, type PaletteItem, usePaletteActions } from './command-palette.tsx';
export { ConfirmedAction } from './confirmed-action.tsx';
export { LoadMore, useCursorPages } from './load-more.tsx';
export { PagedTable } from './paged-table.tsx';
export { Shell } from './shell.tsx';
export { ErrorNotice, Loading, StateBadge } from './status.tsx';
export { TypedConfirm } from './typed-confirm.tsx';
export { type Column, VirtualTable } from './virtual-table.tsx';

/** The components both entry points (operator console, tenant portal) share. */
export { ApiPanel } from './api-panel.tsx';
export { CommandPalette, type PaletteItem, usePaletteActions } from './command-palette.tsx';
export { LoadMore } from './load-more.tsx';
export { Shell } from './shell.tsx';
export { ErrorNotice, Loading, StateBadge } from './status.tsx';
export { TypedConfirm } from './typed-confirm.tsx';
export { type Column, VirtualTable } from './virtual-table.tsx';

/**
 * Tenantry's web console served by the control plane: the operator console at `/console` and the
 * tenant portal at `/portal`, static assets built from packages/console that call `/v1` like any
 * other client. This file is the feature's public surface: code outside the folder imports from
 * here only. It may import: http/, shared modules.
 */
export { CONSOLE_CSP, type ConsoleOptions, consoleRoutes } from './console-routes.ts';

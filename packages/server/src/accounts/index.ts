/**
 * Accounts: users' passwords, email verification and reset links, sign-in sessions and TOTP MFA.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, mail/, secrets/, shared modules.
 */
export {
  type CurrentSession,
  DEFAULT_SESSION_SETTINGS,
  type EndReason,
  type RequestLike,
  SessionService,
  type SessionSettings,
  type SessionView,
  type StartedSession,
} from './session-service.ts';

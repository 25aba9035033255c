/**
 * Accounts: users' passwords, email verification and reset links, sign-in sessions and TOTP MFA.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, mail/, secrets/, shared modules.
 */
export {
  AccountService,
  anonymousContext,
  type Origin,
  type SignInResult,
  UNKNOWN_USER,
  userContext,
} from './account-service.ts';
export { LINK_TTL_MS } from './links.ts';
export { ATTEMPT_WINDOW_MS, MAX_FAILED_ATTEMPTS, MfaService, RECOVERY_CODES } from './mfa-service.ts';
export { ARGON2_COST, checkEmail, checkPassword } from './passwords.ts';
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

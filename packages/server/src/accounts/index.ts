/**
 * Accounts: users' passwords, email verification and reset links, sign-in sessions and TOTP MFA.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, mail/, secrets/, shared modules.
 */
export { AccountService, type Origin, userContext } from './account-service.ts';
export { MfaService } from './mfa-service.ts';
export { ARGON2_COST } from './passwords.ts';
export { type CurrentSession, SessionService } from './session-service.ts';
export { DEFAULT_SIGN_IN_LIMITS, type SignInLimits } from './sign-in-throttle.ts';

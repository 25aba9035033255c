/**
 * The hosted sign-in pages: sign-up, email verification, sign-in with the second factor, password
 * reset, MFA settings, sessions and sign-out, as server-rendered HTML forms.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: accounts/, mail/, http/, members/, self-serve/, shared modules.
 */
export { type HostedServices, hostedRoutes } from './hosted-routes.ts';
export { redactLinkTokens, safeReturnTo } from './return-to.ts';

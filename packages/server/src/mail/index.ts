/**
 * Outgoing mail: SMTP through nodemailer, templates the vendor can brand, links logged when SMTP
 * is not configured.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: http/, shared modules.
 */
export { mailRoutes } from './mail-routes.ts';
export {
  type Brand,
  type BrandSource,
  Mailer,
  type MailLog,
  type MailOutcome,
  type MailSettings,
  type MailStatus,
} from './mailer.ts';
export { MAIL_KINDS, type MailKind } from './templates.ts';

import { createTransport, type Transporter } from 'nodemailer';
import { escapeHtml } from '../html.ts';
import { type ServiceLog, STDERR_LOG } from '../stderr-log.ts';
import { fill, loadTemplates, type MailKind, type MailTemplate } from './templates.ts';

/** What the mailer logs with: the app's pino logger (or anything with its two methods). */
export type MailLog = ServiceLog;

/** How the vendor brands its mails and hosted pages. */
export interface Brand {
  readonly productName: string;
  /** A hex colour, `#4f46e5`. */
  readonly color: string;
  /** An https URL of the logo, when there is one. */
  readonly logoUrl: string | undefined;
}

export interface MailSettings {
  /** `smtp://user:pass@host:port`; undefined: mail is not configured, links are logged. */
  readonly smtpUrl: string | undefined;
  readonly from: string;
  /** A folder whose templates replace the shipped ones. */
  readonly templatesDir: string | undefined;
}

/**
 * What became of a mail: `sent` over SMTP; `logged` when mail is not configured (its links are in
 * the log, for development); `failed` when the SMTP server refused it or could not be reached
 * (logged as an error with the reason).
 */
export type MailOutcome = 'sent' | 'logged' | 'failed';

/** Whether mail goes out, as `GET /v1/mail` tells. */
export interface MailStatus {
  readonly configured: boolean;
  readonly from: string;
  /** The SMTP server's host and port, never its credentials; null when not configured. */
  readonly server: string | null;
}

/**
 * Sends Tenantry's mails through SMTP (nodemailer), from templates the vendor can brand. Without
 * SMTP configured it logs what it would have sent, links included, so that sign-up works on a
 * developer's machine; the log never holds the SMTP credentials. A mail is sent after the change
 * it announces has committed, and its failure does not undo the change: the outcome says what
 * happened, and the user can ask again (a new link).
 */
export class Mailer {
  readonly #settings: MailSettings;
  readonly #brand: Brand;
  readonly #templates: Record<MailKind, MailTemplate>;
  readonly #transport: Transporter | undefined;
  #log: MailLog;
  readonly #logGiven: boolean;

  constructor(settings: MailSettings, brand: Brand, log?: MailLog) {
    this.#settings = settings;
    this.#brand = brand;
    this.#templates = loadTemplates(settings.templatesDir);
    this.#transport = settings.smtpUrl === undefined ? undefined : createTransport(settings.smtpUrl);
    this.#log = log ?? STDERR_LOG;
    this.#logGiven = log !== undefined;
  }

  /** Hands over the app's logger once it exists, unless a logger was given at construction. */
  useLog(log: MailLog): void {
    if (!this.#logGiven) this.#log = log;
  }

  get brand(): Brand {
    return this.#brand;
  }

  status(): MailStatus {
    const url = this.#settings.smtpUrl === undefined ? undefined : new URL(this.#settings.smtpUrl);
    return {
      configured: url !== undefined,
      from: this.#settings.from,
      server:
        url === undefined ? null : `${url.hostname}:${url.port || (url.protocol === 'smtps:' ? 465 : 587)}`,
    };
  }

  sendVerification(email: string, url: string): Promise<MailOutcome> {
    return this.#send('verification', email, { url });
  }

  /** The invitation to join a tenant; `url` is the signed link that accepts it. */
  sendInvitation(email: string, url: string, tenantName: string): Promise<MailOutcome> {
    return this.#send('invitation', email, { url, tenant: tenantName });
  }

  sendPasswordReset(email: string, url: string): Promise<MailOutcome> {
    return this.#send('password_reset', email, { url });
  }

  /** Tells the user its second factor changed (`change`: what, in words), so that a thief cannot do it unseen. */
  sendMfaChanged(email: string, change: string): Promise<MailOutcome> {
    return this.#send('mfa_changed', email, { change });
  }

  async #send(kind: MailKind, to: string, values: Record<string, string>): Promise<MailOutcome> {
    const template = this.#templates[kind];
    const all = {
      ...values,
      product: this.#brand.productName,
      color: this.#brand.color,
      email: to,
    };
    const logo =
      this.#brand.logoUrl === undefined
        ? ''
        : `<img src="${escapeHtml(this.#brand.logoUrl)}" alt="${escapeHtml(this.#brand.productName)}" height="40">`;
    // Subjects are one line: a value with a line break could add a header.
    const subject = fill(template.subject, all, 'text').replace(/[\r\n]+/g, ' ');
    const text = fill(template.text, { ...all, logo: this.#brand.logoUrl ?? '' }, 'text');
    const html = fill(template.html, { ...all, logo }, 'html', new Set(['logo']));
    if (this.#transport === undefined) {
      this.#log.info(
        { mail: kind, to, subject, ...('url' in values ? { link: values.url } : {}) },
        'mail is not configured (TENANTRY_SMTP_URL): logged instead of sent',
      );
      return 'logged';
    }
    try {
      await this.#transport.sendMail({ from: this.#settings.from, to, subject, text, html });
      return 'sent';
    } catch (error) {
      this.#log.error(
        { mail: kind, to, reason: error instanceof Error ? error.message : String(error) },
        'sending mail failed',
      );
      return 'failed';
    }
  }

  /** Closes the SMTP connections. */
  close(): void {
    this.#transport?.close();
  }
}

import { checkBrandColor, checkLogo } from '@tenantry/core';
import { createTransport, type Transporter } from 'nodemailer';
import { escapeHtml } from '../html.ts';
import { type ServiceLog, STDERR_LOG } from '../stderr-log.ts';
import { fill, loadTemplates, type MailKind, type MailTemplate, oneLine } from './templates.ts';

/** What the mailer logs with: the app's pino logger (or anything with its two methods). */
export type MailLog = ServiceLog;

/** How the vendor brands its mails and hosted pages. */
export interface Brand {
  readonly productName: string;
  /** A hex colour, `#4f46e5`. */
  readonly color: string;
  /**
   * The logo, when there is one: an https URL (TENANTRY_BRAND_LOGO_URL) or a `data:` URL (the
   * branding settings).
   */
  readonly logoUrl: string | undefined;
}

/** Where the mailer reads the brand, at each mail: the vendor's branding settings as they are now. */
export type BrandSource = () => Promise<Brand>;

/**
 * The colour a mail's button and heading take when the brand's colour is not `#rrggbb` with white
 * text on it at WCAG AA: a near-black that every reader can read white text on.
 */
export const FALLBACK_MAIL_COLOR = '#111827';

/**
 * The brand's colour when the branding settings would take it (`#rrggbb`, white text on it at
 * WCAG AA): a colour configured by environment variable is not checked when it is set; else the
 * fallback.
 */
function accessibleColor(color: string): string {
  return checkBrandColor(color).ok ? color : FALLBACK_MAIL_COLOR;
}

/**
 * The logo's URL when it can be shown without the mailer fetching anything: an https URL (the
 * reader's mail client loads it) or a data: URL that passes the settings' own check (a raster
 * image of at most 64 KiB). Anything else is left out, so a mail never carries a `javascript:` or
 * `http:` source.
 */
export function mailLogoUrl(logoUrl: string | undefined): string | undefined {
  if (logoUrl === undefined) return undefined;
  if (logoUrl.startsWith('data:')) return checkLogo(logoUrl).ok ? logoUrl : undefined;
  return URL.canParse(logoUrl) && new URL(logoUrl).protocol === 'https:' ? logoUrl : undefined;
}

/** The address of a configured sender, `Name <a@b>` or `a@b`. */
function addressOf(from: string): string {
  return /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from.trim();
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
 * Sends Tenantry's mails through SMTP (nodemailer), from templates branded with the vendor's
 * branding as it is when the mail goes: the product's name is the sender's name (the configured
 * address stays the address), the subject's and the body's; its logo and, when readable, its
 * colour are the body's. Without
 * SMTP configured it logs what it would have sent, links included, so that sign-up works on a
 * developer's machine; the log never holds the SMTP credentials. A mail is sent after the change
 * it announces has committed, and its failure does not undo the change: the outcome says what
 * happened, and the user can ask again (a new link).
 */
export class Mailer {
  readonly #settings: MailSettings;
  readonly #brand: BrandSource;
  readonly #templates: Record<MailKind, MailTemplate>;
  readonly #transport: Transporter | undefined;
  #log: MailLog;
  readonly #logGiven: boolean;

  constructor(settings: MailSettings, brand: BrandSource, log?: MailLog) {
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
    const brand = await this.#brand();
    const product = oneLine(brand.productName);
    const logoUrl = mailLogoUrl(brand.logoUrl);
    const all = { ...values, product, color: accessibleColor(brand.color), email: to };
    const logo =
      logoUrl === undefined
        ? ''
        : `<img src="${escapeHtml(logoUrl)}" alt="${escapeHtml(product)}" height="40">`;
    // Subjects are one line: a value with a line break could add a header.
    const subject = oneLine(fill(template.subject, all, 'text'));
    // In text the logo is its URL, when that is one a reader can open (not a data: URL).
    const text = fill(template.text, { ...all, logo: logoUrl?.startsWith('https:') ? logoUrl : '' }, 'text');
    const html = fill(template.html, { ...all, logo }, 'html', new Set(['logo']));
    // nodemailer quotes and encodes the name; the address is the configured one, never the brand's.
    const from = { name: product, address: addressOf(this.#settings.from) };
    if (this.#transport === undefined) {
      this.#log.info(
        { mail: kind, to, subject, ...('url' in values ? { link: values.url } : {}) },
        'mail is not configured (TENANTRY_SMTP_URL): logged instead of sent',
      );
      return 'logged';
    }
    try {
      // A data: logo goes as an inline image part the HTML names by cid: many mail clients (Gmail,
      // Outlook) block data: URLs in images, and would show the alt text instead of the logo.
      await this.#transport.sendMail({ from, to, subject, text, html, attachDataUrls: true });
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

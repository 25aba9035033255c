import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from '../html.ts';

/** The mails Tenantry sends. */
export const MAIL_KINDS = ['verification', 'invitation', 'password_reset', 'mfa_changed'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

/** One mail's three parts, with `{{name}}` placeholders. */
export interface MailTemplate {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** The placeholders every template may use, beside its own. */
const COMMON = ['product', 'color', 'logo', 'email'] as const;

/** The placeholders each mail fills in. */
export const PLACEHOLDERS: Readonly<Record<MailKind, readonly string[]>> = {
  verification: [...COMMON, 'url'],
  invitation: [...COMMON, 'url', 'tenant'],
  password_reset: [...COMMON, 'url'],
  mfa_changed: [...COMMON, 'change'],
};

/** The shell every shipped HTML mail shares: the brand's logo and colour. */
function shell(body: string): string {
  return `<!doctype html>
<html><body style="font-family:system-ui,sans-serif;color:#111;max-width:560px;margin:0 auto;padding:24px">
{{logo}}
<h1 style="font-size:20px;color:{{color}}">{{product}}</h1>
${body}
<p style="color:#666;font-size:12px">This mail was sent to {{email}} by {{product}}.</p>
</body></html>
`;
}

function button(label: string): string {
  return `<p><a href="{{url}}" style="background:{{color}};color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none">${label}</a></p>
<p style="font-size:12px">Or paste this link into your browser: {{url}}</p>`;
}

/** The templates Tenantry ships; a templates folder replaces any part of any of them. */
export const SHIPPED: Readonly<Record<MailKind, MailTemplate>> = {
  verification: {
    subject: 'Verify your email for {{product}}',
    text: 'Welcome to {{product}}.\n\nVerify your email address by opening this link (valid for 24 hours):\n{{url}}\n\nIf you did not sign up, ignore this mail.\n',
    html: shell(
      `<p>Welcome to {{product}}. Verify your email address (the link is valid for 24 hours):</p>${button('Verify email')}<p>If you did not sign up, ignore this mail.</p>`,
    ),
  },
  invitation: {
    subject: 'You are invited to {{tenant}} on {{product}}',
    text: 'You are invited to join {{tenant}} on {{product}}.\n\nAccept the invitation:\n{{url}}\n',
    html: shell(
      `<p>You are invited to join <strong>{{tenant}}</strong> on {{product}}.</p>${button('Accept')}`,
    ),
  },
  password_reset: {
    subject: 'Reset your {{product}} password',
    text: 'Someone asked to reset the password of your {{product}} account.\n\nSet a new password with this link (valid for 1 hour):\n{{url}}\n\nIf it was not you, ignore this mail: your password stays as it is.\n',
    html: shell(
      `<p>Someone asked to reset the password of your {{product}} account. Set a new password (the link is valid for 1 hour):</p>${button('Set a new password')}<p>If it was not you, ignore this mail: your password stays as it is.</p>`,
    ),
  },
  mfa_changed: {
    subject: 'Two-step verification changed on your {{product}} account',
    text: 'Two-step verification on your {{product}} account changed: {{change}}.\n\nIf this was not you, reset your password at once and contact your administrator.\n',
    html: shell(
      '<p>Two-step verification on your {{product}} account changed: <strong>{{change}}</strong>.</p><p>If this was not you, reset your password at once and contact your administrator.</p>',
    ),
  },
};

/** Control characters (line breaks above all) as spaces: a value stays on the line it is put on. */
export function oneLine(value: string): string {
  return value.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim();
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/**
 * The templates: the shipped ones, with each part found in `dir` replacing its own
 * (`<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`). Read once, at start-up, so that a typo in
 * a template (an unknown placeholder) stops the server with its name rather than a mail later.
 */
export function loadTemplates(dir: string | undefined): Record<MailKind, MailTemplate> {
  const out = {} as Record<MailKind, MailTemplate>;
  for (const kind of MAIL_KINDS) {
    const part = (file: string, shipped: string) => {
      if (dir === undefined) return shipped;
      const path = join(dir, `${kind}${file}`);
      if (!existsSync(path)) return shipped;
      const text = readFileSync(path, 'utf8');
      for (const match of text.matchAll(PLACEHOLDER)) {
        if (!PLACEHOLDERS[kind].includes(match[1] ?? '')) {
          throw new Error(
            `mail template ${path} uses {{${match[1]}}}, which ${kind} mails do not fill in; they have ${PLACEHOLDERS[kind].join(', ')}`,
          );
        }
      }
      return text;
    };
    const shipped = SHIPPED[kind];
    out[kind] = {
      subject: part('.subject.txt', shipped.subject).trim(),
      text: part('.txt', shipped.text),
      html: part('.html', shipped.html),
    };
  }
  return out;
}

/**
 * A template part with its placeholders filled in; values are escaped in HTML and, in text, kept
 * to one line (a tenant's name cannot add lines that pass for the mail's own). `logo` is HTML
 * already (an `<img>` or nothing) in HTML, and the logo's URL in text.
 */
export function fill(
  template: string,
  values: Readonly<Record<string, string>>,
  mode: 'html' | 'text',
  raw: ReadonlySet<string> = new Set(),
): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = values[name] ?? '';
    if (raw.has(name)) return value;
    return mode === 'html' ? escapeHtml(value) : oneLine(value);
  });
}

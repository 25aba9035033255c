import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A mail the sink received, its text part decoded. */
export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  /** The whole message as sent, headers and MIME parts. */
  readonly raw: string;
  /** The text/plain part, quoted-printable decoded. */
  readonly text: string;
  /** The text/html part, quoted-printable decoded. */
  readonly html: string;
}

/** Undoes quoted-printable: soft line breaks, then `=XX` bytes (UTF-8). */
function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const char = joined[i] ?? '';
    const hex = joined.slice(i + 1, i + 3);
    if (char === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(char));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The decoded body of the MIME part of `type` in `raw`. */
function part(raw: string, type: string): string {
  const start = raw.search(new RegExp(`Content-Type: ${type}`, 'i'));
  if (start < 0) return '';
  const rest = raw.slice(start);
  const headerEnd = rest.search(/\r?\n\r?\n/);
  const headers = rest.slice(0, headerEnd);
  const body = rest.slice(headerEnd).replace(/^\r?\n\r?\n/, '');
  const end = body.search(/\r?\n--/);
  const content = end < 0 ? body : body.slice(0, end);
  if (/quoted-printable/i.test(headers)) return decodeQuotedPrintable(content);
  if (/base64/i.test(headers)) return Buffer.from(content.replace(/\s/g, ''), 'base64').toString('utf8');
  return content;
}

/** A running sink: its SMTP URL, what it has received, and ways to read it. */
export interface SmtpSink {
  readonly url: string;
  readonly received: ReceivedMail[];
  /** The newest mail to `to` whose subject matches, or undefined. */
  latest(to: string, subject?: RegExp): ReceivedMail | undefined;
  /** The first link in the newest mail to `to` (matching `subject`), as a path with its query. */
  link(to: string, subject?: RegExp): string;
  close(): Promise<void>;
}

/** The first link in a mail's text part, whole. */
export function firstLink(mail: ReceivedMail): string {
  const url = /https?:\/\/\S+/.exec(mail.text)?.[0];
  if (url === undefined) throw new Error(`no link in the mail to ${mail.to.join(', ')}: ${mail.text}`);
  return url;
}

/**
 * A real SMTP server on a free local port that keeps what it receives, for tests that send mail
 * through nodemailer exactly as production does (no mock of the mailer): the in-process tests and
 * the end-to-end ones, whose `tenantry serve` mails to it over TCP.
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*)$/im.exec(raw)?.[1]?.trim() ?? '';
        received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          subject,
          raw,
          text: part(raw, 'text/plain'),
          html: part(raw, 'text/html'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const latest = (to: string, subject?: RegExp) =>
    received.findLast(
      (mail) =>
        mail.to.some((a) => a.toLowerCase() === to.toLowerCase()) &&
        (subject === undefined || subject.test(mail.subject)),
    );
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    latest,
    link(to, subject) {
      const mail = latest(to, subject);
      if (mail === undefined) throw new Error(`no mail to ${to}${subject ? ` matching ${subject}` : ''}`);
      const parsed = new URL(firstLink(mail));
      return `${parsed.pathname}${parsed.search}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// A local SMTP server that keeps what it is sent, for the end-to-end tests: Tenantry's mailer
// speaks real SMTP to it (nodemailer over TCP), so the test reads the very mail a user would get.
import { SMTPServer } from 'smtp-server';

/** One mail as it arrived: its envelope and its raw RFC 5322 text. */
export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: string;
}

/** A running sink: its SMTP URL, what it has received, and a way to stop it. */
export interface MailSink {
  readonly url: string;
  readonly mails: readonly ReceivedMail[];
  /** The mails sent to `address` so far, oldest first. */
  to(address: string): ReceivedMail[];
  close(): Promise<void>;
}

/** Starts a sink on a free port of 127.0.0.1: no TLS, any credentials accepted. */
export async function startMailSink(): Promise<MailSink> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'sink' }),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        mails.push({
          from: from === false ? '' : from.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      if (address && typeof address === 'object') resolve(address.port);
      else reject(new Error('the SMTP sink has no port'));
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    to: (address) => mails.filter((m) => m.to.includes(address.toLowerCase()) || m.to.includes(address)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The first link in a mail's text that starts with `prefix`, with quoted-printable soft line
 * breaks and `=3D` undone (mailers fold long links that way).
 */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const text = mail.raw.replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
  const start = text.indexOf(prefix);
  if (start < 0) throw new Error(`no link starting with ${prefix} in the mail:\n${text}`);
  const match = /^[^\s"<>]+/.exec(text.slice(start));
  if (!match) throw new Error(`no link at ${start}`);
  return match[0].replace(/&amp;/g, '&');
}

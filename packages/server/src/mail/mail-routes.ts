import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Mailer } from './mailer.ts';

const MailStatus = z
  .object({
    configured: z
      .boolean()
      .describe('Whether mail goes out over SMTP (`TENANTRY_SMTP_URL`); when false, links are only logged'),
    from: z.string().describe('The sender of every mail (`TENANTRY_MAIL_FROM`)'),
    server: z
      .string()
      .nullable()
      .describe('The SMTP host and port, never its credentials; null when not configured'),
  })
  .meta({ id: 'MailStatus' });

/** `GET /v1/mail`: whether mail is configured, so that an operator learns it before a user misses a link. */
export const mailRoutes: FastifyPluginAsyncZod<{ mailer: Mailer }> = async (app, { mailer }) => {
  app.get(
    '/mail',
    {
      config: { scope: 'mail:read' },
      schema: {
        tags: ['Service'],
        operationId: 'getMailStatus',
        summary: 'Whether outgoing mail is configured',
        description:
          'Without SMTP configured, verification, invitation, reset and MFA mails are not sent: their links ' +
          'are written to the log, which suits development only.',
        querystring: z.strictObject({}),
        response: { 200: MailStatus },
      },
    },
    async () => mailer.status(),
  );
};

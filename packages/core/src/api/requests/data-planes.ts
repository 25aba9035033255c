import { z } from 'zod';

/** How a data plane's connection asks for TLS, as libpq's `sslmode` (the three that mean something here). */
export const SSL_MODES = ['disable', 'require', 'verify-full'] as const;

export const ConnectionBody = z
  .strictObject({
    url: z
      .string()
      .optional()
      .describe('`postgres://user:password@host:5432/database?sslmode=verify-full`; or give the fields'),
    host: z.string().optional(),
    port: z.number().int().optional().describe('5432 when left out'),
    database: z.string().optional(),
    user: z.string().optional(),
    password: z.string().optional().describe('Sealed at rest; never answered, logged or recorded'),
    sslmode: z.enum(SSL_MODES).optional().describe('`verify-full` when left out'),
    ca: z
      .string()
      .optional()
      .describe("PEM of the CA that signed the server's certificate, for `verify-full`"),
  })
  .describe('Connection details: a URL, or host, port, database, user and password')
  .meta({ id: 'ConnectionDetails' });

const Name = z.string().describe('1 to 63 of `a-z`, `0-9`, `-`');
const Region = z.string().describe('1 to 63 of `a-z`, `0-9`, `-`, e.g. `eu-west-1`');
const Capacity = z.number().describe('How many tenants it may hold');

/** `POST /v1/data-planes`: a vendor data plane to register; the server checks its name, region and connection. */
export const RegisterDataPlane = z.strictObject({
  name: Name,
  region: Region.optional(),
  capacity: Capacity.optional(),
  connection: ConnectionBody,
});

/** `PATCH /v1/data-planes/{id}`: what changes; a null region or capacity removes it. */
export const UpdateDataPlane = z.strictObject({
  name: Name.optional(),
  region: Region.nullable().optional(),
  capacity: Capacity.nullable().optional(),
  connection: ConnectionBody.optional(),
});

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the Stripe library made, as the fake received it. */
export interface RecordedCall {
  readonly method: string;
  /** The path without the query, e.g. `/v1/invoices/in_123/finalize`. */
  readonly path: string;
  readonly idempotencyKey: string | undefined;
  /** The form-encoded body, decoded into nested objects and arrays as Stripe reads it. */
  readonly body: Record<string, any>;
  /** What the fake answered. */
  readonly status: number;
  /** True when the answer was the stored one of an earlier request with the same key. */
  readonly replayed: boolean;
}

/** An answer the fake gives instead of serving the next requests, e.g. an outage. */
interface Outage {
  remaining: number;
  status: number;
  /** Only requests to this path fail (a regular expression over the path); any when absent. */
  path: RegExp | undefined;
}

interface Stored {
  readonly fingerprint: string;
  readonly status: number;
  readonly body: unknown;
}

/** Stripe's `list` object. */
function list(url: string, data: unknown[]): Record<string, unknown> {
  return { object: 'list', data, has_more: false, url };
}

function newStripeId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/**
 * Decodes Stripe's form encoding (`lines[0][amount]=4900&metadata[tenant_id]=ten_1`) into nested
 * objects and arrays, the way Stripe's API reads it.
 */
export function decodeStripeForm(text: string): Record<string, any> {
  const root: Record<string, any> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.replace(/\]/g, '').split('[');
    let node: any = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1] ?? '');
      const slot = Array.isArray(node) ? Number(part) : part;
      if (last) node[slot] = value;
      else {
        node[slot] ??= nextIsIndex ? [] : {};
        node = node[slot];
      }
    });
  }
  return root;
}

/**
 * A local HTTP server that stands in for `api.stripe.com` in tests: the official `stripe`
 * library is pointed at it (host, port, protocol) and every request it makes is recorded. It keeps
 * customers and invoices, answers in the shapes of Stripe's API reference, and honours
 * `Idempotency-Key` as Stripe documents it: the same key with the same parameters replays the
 * first answer; with other parameters it is a 400 `idempotency_error`. Only the calls Tenantry makes
 * are served; any other is a 404 `invalid_request_error`, so that a new call shows up in a test.
 */
export class StripeFake {
  /** Every request, in order. */
  readonly calls: RecordedCall[] = [];
  readonly customers = new Map<string, Record<string, any>>();
  readonly invoices = new Map<string, Record<string, any>>();
  readonly #stored = new Map<string, Stored>();
  readonly #server: Server;
  readonly #secretKey: string;
  #outage: Outage | undefined;

  private constructor(server: Server, secretKey: string) {
    this.#server = server;
    this.#secretKey = secretKey;
  }

  /** Starts a fake on a free port of 127.0.0.1 that accepts `secretKey` only. */
  static async start(secretKey: string): Promise<StripeFake> {
    let fake: StripeFake | undefined;
    const server = createServer((req, res) => {
      fake?.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
      });
    });
    fake = new StripeFake(server, secretKey);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** Where the library should send its requests (`host`, `port`, `protocol` of its options). */
  get api(): { host: string; port: number; protocol: 'http' } {
    return { host: '127.0.0.1', port: (this.#server.address() as AddressInfo).port, protocol: 'http' };
  }

  /**
   * Answers the next `count` requests (to `path` only, `:id` matching one segment, when given)
   * with `status` (500 by default) and Stripe's `api_error` body, as an outage in front of the API
   * does: nothing is done and, since the endpoint never began, nothing is stored against the
   * idempotency key.
   */
  failNext(count: number, options: { status?: number; path?: string } = {}): void {
    this.#outage = {
      remaining: count,
      status: options.status ?? 500,
      path: options.path === undefined ? undefined : new RegExp(`^${options.path.replace(/:id/g, '[^/]+')}$`),
    };
  }

  /** Forgets every stored idempotent answer, as Stripe does once a key is 24 hours old. */
  forgetIdempotencyKeys(): void {
    this.#stored.clear();
  }

  /** The recorded calls to `method path`, where `:id` in `path` matches any one segment. */
  callsTo(method: string, path: string): RecordedCall[] {
    const pattern = new RegExp(`^${path.replace(/:id/g, '[^/]+')}$`);
    return this.calls.filter((c) => c.method === method && pattern.test(c.path));
  }

  /** Marks a Stripe invoice paid, as a successful charge would; returns it. */
  markPaid(stripeInvoiceId: string): Record<string, any> {
    const invoice = this.#invoice(stripeInvoiceId);
    Object.assign(invoice, {
      status: 'paid',
      amount_paid: invoice.amount_due,
      amount_remaining: 0,
      attempted: true,
      attempt_count: invoice.attempt_count + 1,
      status_transitions: { ...invoice.status_transitions, paid_at: Math.floor(Date.now() / 1000) },
    });
    return invoice;
  }

  /** Records a failed charge of a Stripe invoice, which stays open; returns it. */
  failPayment(stripeInvoiceId: string): Record<string, any> {
    const invoice = this.#invoice(stripeInvoiceId);
    Object.assign(invoice, { attempted: true, attempt_count: invoice.attempt_count + 1 });
    return invoice;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.#server.close((e) => (e ? reject(e) : resolve())));
  }

  #invoice(id: string): Record<string, any> {
    const invoice = this.invoices.get(id);
    if (!invoice) throw new Error(`the fake has no invoice ${id}`);
    return invoice;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stripe.test');
    const method = req.method ?? 'GET';
    const body = method === 'GET' ? decodeStripeForm(url.search.slice(1)) : decodeStripeForm(text);
    const idempotencyKey = header(req, 'idempotency-key');
    const answer = (
      status: number,
      payload: unknown,
      replayed = false,
      headers: Record<string, string> = {},
    ) => {
      this.calls.push({ method, path: url.pathname, idempotencyKey, body, status, replayed });
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': newStripeId('req'),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        ...headers,
      });
      res.end(JSON.stringify(payload));
    };

    if (header(req, 'authorization') !== `Bearer ${this.#secretKey}`) {
      answer(401, {
        error: { type: 'invalid_request_error', message: 'Invalid API Key provided' },
      });
      return;
    }
    if (this.#outage && this.#outage.remaining > 0 && (this.#outage.path?.test(url.pathname) ?? true)) {
      this.#outage.remaining -= 1;
      answer(this.#outage.status, {
        error: { type: 'api_error', message: 'An unknown error occurred (the fake is down on purpose).' },
      });
      return;
    }
    const storeKey = idempotencyKey === undefined ? undefined : `${method} ${idempotencyKey}`;
    const fingerprint = `${url.pathname}?${text}`;
    if (storeKey !== undefined) {
      const stored = this.#stored.get(storeKey);
      if (stored && stored.fingerprint !== fingerprint) {
        answer(400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        });
        return;
      }
      if (stored) {
        answer(stored.status, stored.body, true);
        return;
      }
    }
    const [status, payload] = this.#route(method, url.pathname, body);
    if (storeKey !== undefined) this.#stored.set(storeKey, { fingerprint, status, body: payload });
    answer(status, payload);
  }

  #route(method: string, path: string, body: Record<string, any>): [number, unknown] {
    const now = Math.floor(Date.now() / 1000);
    const invoiceAction = /^\/v1\/invoices\/([^/]+)\/(add_lines|finalize)$/.exec(path);
    if (method === 'POST' && path === '/v1/customers') {
      const customer = {
        id: newStripeId('cus'),
        object: 'customer',
        address: null,
        balance: 0,
        created: now,
        currency: null,
        default_source: null,
        delinquent: false,
        description: body.description ?? null,
        email: body.email ?? null,
        invoice_prefix: randomBytes(4).toString('hex').toUpperCase(),
        invoice_settings: {
          custom_fields: null,
          default_payment_method: null,
          footer: null,
          rendering_options: null,
        },
        livemode: false,
        metadata: body.metadata ?? {},
        name: body.name ?? null,
        phone: null,
        preferred_locales: [],
        shipping: null,
        tax_exempt: 'none',
        test_clock: null,
      };
      this.customers.set(customer.id, customer);
      return [200, customer];
    }
    if (method === 'POST' && path === '/v1/invoices') {
      if (!body.customer || !this.customers.has(body.customer)) return missing('customer', body.customer);
      const id = newStripeId('in');
      const invoice = {
        id,
        object: 'invoice',
        account_country: 'US',
        amount_due: 0,
        amount_paid: 0,
        amount_remaining: 0,
        attempt_count: 0,
        attempted: false,
        auto_advance: body.auto_advance === 'true',
        billing_reason: 'manual',
        collection_method: body.collection_method ?? 'charge_automatically',
        created: now,
        currency: body.currency ?? 'usd',
        customer: body.customer,
        description: body.description ?? null,
        hosted_invoice_url: null,
        lines: list(`/v1/invoices/${id}/lines`, []),
        livemode: false,
        metadata: body.metadata ?? {},
        number: null,
        status: 'draft',
        status_transitions: {
          finalized_at: null,
          marked_uncollectible_at: null,
          paid_at: null,
          voided_at: null,
        },
        subtotal: 0,
        total: 0,
      };
      this.invoices.set(id, invoice);
      return [200, invoice];
    }
    if (method === 'POST' && invoiceAction) {
      const invoice = this.invoices.get(decodeURIComponent(invoiceAction[1] ?? ''));
      if (!invoice) return missing('invoice', invoiceAction[1]);
      if (invoice.status !== 'draft') {
        return [
          400,
          {
            error: {
              type: 'invalid_request_error',
              code: 'invoice_not_editable',
              message: `This invoice is already finalized, you can't re-finalize a non-draft invoice.`,
            },
          },
        ];
      }
      if (invoiceAction[2] === 'add_lines') {
        const lines: Array<Record<string, any>> = body.lines ?? [];
        for (const line of lines) {
          invoice.lines.data.push({
            id: newStripeId('il'),
            object: 'line_item',
            amount: Number(line.amount),
            currency: invoice.currency,
            description: line.description ?? null,
            invoice: invoice.id,
            livemode: false,
            metadata: line.metadata ?? {},
            period: { start: now, end: now },
            quantity: 1,
          });
        }
        const total = invoice.lines.data.reduce((sum: number, l: { amount: number }) => sum + l.amount, 0);
        Object.assign(invoice, { subtotal: total, total, amount_due: total, amount_remaining: total });
        return [200, invoice];
      }
      Object.assign(invoice, {
        status: 'open',
        number: `${this.customers.get(invoice.customer)?.invoice_prefix}-${String(this.invoices.size).padStart(4, '0')}`,
        auto_advance: body.auto_advance === undefined ? invoice.auto_advance : body.auto_advance === 'true',
        hosted_invoice_url: `https://invoice.stripe.test/i/${invoice.id}`,
        status_transitions: { ...invoice.status_transitions, finalized_at: now },
      });
      return [200, invoice];
    }
    const voiding = /^\/v1\/invoices\/([^/]+)\/void$/.exec(path);
    if (method === 'POST' && voiding) {
      const invoice = this.invoices.get(decodeURIComponent(voiding[1] ?? ''));
      if (!invoice) return missing('invoice', voiding[1]);
      if (invoice.status !== 'open' && invoice.status !== 'uncollectible') {
        return [
          400,
          {
            error: {
              type: 'invalid_request_error',
              message: `You can only void open or uncollectible invoices; this invoice is ${invoice.status}.`,
            },
          },
        ];
      }
      Object.assign(invoice, {
        status: 'void',
        amount_remaining: 0,
        status_transitions: { ...invoice.status_transitions, voided_at: now },
      });
      return [200, invoice];
    }
    const invoiceRead = /^\/v1\/invoices\/([^/]+)$/.exec(path);
    if (method === 'GET' && invoiceRead) {
      const invoice = this.invoices.get(decodeURIComponent(invoiceRead[1] ?? ''));
      return invoice ? [200, invoice] : missing('invoice', invoiceRead[1]);
    }
    if (method === 'DELETE' && invoiceRead) {
      const id = decodeURIComponent(invoiceRead[1] ?? '');
      const invoice = this.invoices.get(id);
      if (!invoice) return missing('invoice', id);
      if (invoice.status !== 'draft') {
        return [
          400,
          { error: { type: 'invalid_request_error', message: 'You can only delete draft invoices.' } },
        ];
      }
      this.invoices.delete(id);
      return [200, { id, object: 'invoice', deleted: true }];
    }
    return [
      404,
      { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` } },
    ];
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function missing(param: string, id: unknown): [number, unknown] {
  return [
    404,
    {
      error: {
        type: 'invalid_request_error',
        code: 'resource_missing',
        param,
        message: `No such ${param}: '${String(id)}'`,
      },
    },
  ];
}

/**
 * A Stripe event (the snapshot payload a webhook delivers) around `object`, as Stripe's API
 * reference shows it; `previousAttributes` are the changed fields' old values (`*.updated`).
 */
export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; previousAttributes?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    id: options.id ?? newStripeId('evt'),
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    data: {
      object,
      ...(options.previousAttributes ? { previous_attributes: options.previousAttributes } : {}),
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

-- Stripe, when configured (STRIPE_SECRET_KEY): what Tenantry made there, and which of Stripe's
-- webhook events it has acted on. Stripe's idempotency keys last 24 hours; these rows last for
-- ever, so a retry days later still finds the customer or invoice already made instead of making
-- a second one.

-- The Stripe customer of each tenant, made once.
CREATE TABLE tenantry.stripe_customers (
  tenant_id           text PRIMARY KEY REFERENCES tenantry.tenants (id),
  stripe_customer_id  text NOT NULL UNIQUE,
  created_at          timestamptz NOT NULL
);

-- The Stripe invoice of each finalized Tenantry invoice, and how far its sync has gone: created
-- (draft, no lines), lines added, finalized; voided once the Tenantry invoice is. Each step is
-- written as soon as Stripe has answered, so a retry resumes after the last step known done.
CREATE TABLE tenantry.stripe_invoices (
  tenant_id          text NOT NULL REFERENCES tenantry.tenants (id),
  invoice_id         text NOT NULL,
  stripe_invoice_id  text NOT NULL UNIQUE,
  lines_added_at     timestamptz,
  finalized_at       timestamptz,
  voided_at          timestamptz,
  created_at         timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, invoice_id),
  CHECK (finalized_at IS NULL OR lines_added_at IS NOT NULL)
);

-- Every webhook event acted on, written in the transaction of its effect: a replay of the same
-- event id finds its row and changes nothing.
CREATE TABLE tenantry.stripe_events (
  id           text PRIMARY KEY,
  type         text NOT NULL,
  tenant_id    text,
  -- applied (it changed something), ignored (not Tenantry's, or a type Tenantry does not act on).
  outcome      text NOT NULL CHECK (outcome IN ('applied', 'ignored')),
  detail       text NOT NULL,
  received_at  timestamptz NOT NULL
);

-- Billing: subscriptions (the history of each tenant's plan and seats), finalized invoices and
-- credit notes with their lines, and the gap-free counters that number them. See docs/billing.md.

-- One per tenant: when billing started and ended, and how far invoicing has gone.
CREATE TABLE tenantry.subscriptions (
  tenant_id          text PRIMARY KEY REFERENCES tenantry.tenants (id),
  -- The billing anchor of the tenant's creation: its first period starts here.
  started_at         timestamptz NOT NULL,
  -- The end of the trial (or started_at): nothing before it is charged.
  billing_starts_at  timestamptz NOT NULL,
  -- When the subscription was cancelled; nothing after it is charged.
  ended_at           timestamptz,
  -- Every period before this instant is invoiced (or had nothing to charge).
  invoiced_until     timestamptz NOT NULL,
  -- The end of the period that holds invoiced_until: when the next invoice falls due. NULL once
  -- the subscription has ended and its last period is invoiced.
  next_due_at        timestamptz,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);

CREATE INDEX subscriptions_due ON tenantry.subscriptions (next_due_at, tenant_id) WHERE next_due_at IS NOT NULL;

-- The plan version and seat count in force from valid_from (inclusive) to valid_to (exclusive;
-- NULL while in force). A change closes the open segment and opens the next in the transaction
-- that makes it, so the history is exactly what rating reads. Segments never overlap.
CREATE TABLE tenantry.subscription_segments (
  tenant_id       text NOT NULL REFERENCES tenantry.subscriptions (tenant_id),
  valid_from      timestamptz NOT NULL,
  valid_to        timestamptz,
  plan_id         text NOT NULL,
  plan_version    integer NOT NULL,
  seats           integer NOT NULL CHECK (seats >= 0),
  -- Periods are counted from this anchor while the segment is in force (a change of billing
  -- interval, which happens at a period end, starts counting again from there).
  billing_anchor  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, valid_from),
  CHECK (valid_to IS NULL OR valid_to > valid_from),
  FOREIGN KEY (plan_id, plan_version) REFERENCES tenantry.plan_versions (plan_id, version)
);

-- Numbers without gaps: the finalizing transaction takes the next numbers by updating its row,
-- so a rolled-back run gives its numbers back (a sequence would not).
CREATE TABLE tenantry.billing_counters (
  name   text PRIMARY KEY CHECK (name IN ('invoice', 'credit_note')),
  value  bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO tenantry.billing_counters (name, value) VALUES ('invoice', 0), ('credit_note', 0);

-- Finalized documents: invoices (for a period, or for late usage of a finalized period) and
-- credit notes (for a voided invoice, or for usage voided after finalizing). Drafts are never
-- stored: a preview is computed when asked for.
CREATE TABLE tenantry.invoices (
  tenant_id       text NOT NULL REFERENCES tenantry.tenants (id),
  id              text NOT NULL,
  type            text NOT NULL CHECK (type IN ('invoice', 'credit_note')),
  number          text NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('period', 'late_usage', 'void')),
  -- For late-usage documents and credit notes: the invoice they adjust.
  adjusts_id      text,
  status          text NOT NULL CHECK (status IN ('open', 'paid', 'void', 'uncollectible', 'issued')),
  currency        text NOT NULL,
  period_start    timestamptz NOT NULL,
  period_end      timestamptz NOT NULL,
  subtotal        numeric NOT NULL,
  total           numeric NOT NULL CHECK (total >= 0),
  issued_at       timestamptz NOT NULL,
  paid_at         timestamptz,
  voided_at       timestamptz,
  uncollectible_at timestamptz,
  payment_reference text,
  payment_failures integer NOT NULL DEFAULT 0,
  last_payment_failure text,
  last_payment_failed_at timestamptz,
  -- The credit note that cancelled this invoice when it was voided.
  credit_note_id  text,
  PRIMARY KEY (tenant_id, id)
);

-- One period invoice per tenant and period, whatever becomes of it: a run never bills it twice.
CREATE UNIQUE INDEX invoices_one_per_period ON tenantry.invoices (tenant_id, period_start) WHERE reason = 'period';
CREATE INDEX invoices_id ON tenantry.invoices (id);
CREATE INDEX invoices_number ON tenantry.invoices (number);
CREATE INDEX invoices_tenant ON tenantry.invoices (tenant_id, issued_at, id);
CREATE INDEX invoices_issued ON tenantry.invoices (issued_at, id);

CREATE TABLE tenantry.invoice_lines (
  tenant_id     text NOT NULL,
  invoice_id    text NOT NULL,
  position      integer NOT NULL,
  key           text NOT NULL,
  kind          text NOT NULL,
  description   text NOT NULL,
  period_start  timestamptz NOT NULL,
  period_end    timestamptz NOT NULL,
  quantity      text NOT NULL,
  unit_amount   text,
  amount        numeric NOT NULL,
  -- price_key, plan, tiers, usage, proration, minimum and (for adjustments) what was billed before.
  detail        jsonb NOT NULL,
  PRIMARY KEY (tenant_id, invoice_id, position),
  FOREIGN KEY (tenant_id, invoice_id) REFERENCES tenantry.invoices (tenant_id, id)
);

-- A finalized document never changes: only its payment status (and the dates and counters that
-- go with it) may move. Lines are never updated or deleted. Enforced here, not only by the code.
CREATE FUNCTION tenantry.invoices_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'invoice % is final and cannot be deleted', OLD.number USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.tenant_id, NEW.id, NEW.type, NEW.number, NEW.reason, NEW.adjusts_id, NEW.currency,
      NEW.period_start, NEW.period_end, NEW.subtotal, NEW.total, NEW.issued_at)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.id, OLD.type, OLD.number, OLD.reason, OLD.adjusts_id, OLD.currency,
      OLD.period_start, OLD.period_end, OLD.subtotal, OLD.total, OLD.issued_at) THEN
    RAISE EXCEPTION 'invoice % is final: only its payment status may change', OLD.number USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER invoices_are_final BEFORE UPDATE OR DELETE ON tenantry.invoices
  FOR EACH ROW EXECUTE FUNCTION tenantry.invoices_are_final();

CREATE FUNCTION tenantry.invoice_lines_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the lines of invoice % are final', OLD.invoice_id USING ERRCODE = 'P0001';
END $$;

CREATE TRIGGER invoice_lines_are_final BEFORE UPDATE OR DELETE ON tenantry.invoice_lines
  FOR EACH ROW EXECUTE FUNCTION tenantry.invoice_lines_are_final();

-- Each billed period of each tenant: its invoice and what was charged for it line by line (the
-- baseline late usage is compared with), and until when late events could still change it.
CREATE TABLE tenantry.billed_periods (
  tenant_id     text NOT NULL REFERENCES tenantry.subscriptions (tenant_id),
  period_start  timestamptz NOT NULL,
  period_end    timestamptz NOT NULL,
  invoice_id    text NOT NULL,
  -- {"<line key>": {"kind", "description", "quantity", "amount"}}: the charges as last rated.
  billed        jsonb NOT NULL,
  -- Late events for the period are accepted until then (period end + the late window).
  late_until    timestamptz NOT NULL,
  -- When the period's usage was last compared with what was billed.
  checked_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, period_start)
);

CREATE INDEX billed_periods_to_check ON tenantry.billed_periods (late_until, tenant_id) WHERE checked_at < late_until;

-- Tenants that exist already are billed from now on: nothing before this migration is charged.
INSERT INTO tenantry.subscriptions
  (tenant_id, started_at, billing_starts_at, ended_at, invoiced_until, next_due_at, created_at, updated_at)
SELECT id, billing_anchor, greatest(now(), coalesce(trial_ends_at, billing_anchor)),
       CASE WHEN state IN ('cancelled', 'deleted') THEN least(updated_at, now()) END,
       now(), now(), now(), now()
FROM tenantry.tenants;

INSERT INTO tenantry.subscription_segments
  (tenant_id, valid_from, valid_to, plan_id, plan_version, seats, billing_anchor)
SELECT id, billing_anchor, NULL, plan_id, plan_version, seats, billing_anchor
FROM tenantry.tenants;

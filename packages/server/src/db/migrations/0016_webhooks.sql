-- Signed webhooks (issue 12, part 3). Endpoints subscribe to event-type patterns; the fan-out
-- claims unpublished domain_events (the outbox of 0014), writes one delivery per matching
-- enabled endpoint and marks the event published in the same transaction, so an event whose
-- change committed is delivered even if the process dies before sending it: the delivery rows
-- are durable. Delivery workers in every process claim due deliveries with SKIP LOCKED.

-- tenant_id null: an operator endpoint, which receives the events of every tenant and the
-- control plane's own (`webhook_endpoint.disabled` among them).
-- secrets: the signing secrets sealed with the master key (SecretBox), newest first, each with
-- the instant it stops signing (null for the current one): while a secret rotates, both sign.
CREATE TABLE tenantry.webhook_endpoints (
  id text PRIMARY KEY,
  tenant_id text REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  event_types text[] NOT NULL,
  secrets jsonb NOT NULL,
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  disabled_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON tenantry.webhook_endpoints (tenant_id);

-- One message to one endpoint. position: the event's, for delivering in order per endpoint.
-- attempts: the log of every attempt (at, status, latency_ms, error), newest last.
CREATE TABLE tenantry.webhook_deliveries (
  id text PRIMARY KEY,
  endpoint_id text NOT NULL REFERENCES tenantry.webhook_endpoints (id) ON DELETE CASCADE,
  event_id text NOT NULL,
  event_type text NOT NULL,
  position bigint NOT NULL,
  -- Whether the event's type is delivered in order to the endpoint (tenant.*, subscription.*):
  -- such a delivery waits while an earlier ordered one to the same endpoint is pending.
  ordered boolean NOT NULL,
  payload jsonb NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempt_count integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_status integer,
  last_latency_ms integer,
  last_error text,
  attempts jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON tenantry.webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON tenantry.webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_pending_order ON tenantry.webhook_deliveries (endpoint_id, position) WHERE state = 'pending';

-- Wakes the fan-out in every process as soon as events commit (a notification is delivered only
-- on commit), so a webhook leaves within moments rather than at the next poll; the poll stays as
-- the fallback for a lost connection.
CREATE FUNCTION tenantry.notify_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenantry_webhook_outbox', '');
  RETURN NULL;
END;
$$;
CREATE TRIGGER domain_events_webhook_outbox AFTER INSERT ON tenantry.domain_events
  FOR EACH STATEMENT EXECUTE FUNCTION tenantry.notify_webhook_outbox();

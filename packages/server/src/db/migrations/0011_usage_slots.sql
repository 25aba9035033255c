-- Slots: one row per unit of a gauge held open now (a session, a connected device), counted by the
-- control plane across every app instance. An instance holds its slots under a holder that it
-- keeps alive with heartbeats; once the holder's expires_at passes, its slots stop counting at
-- once (every count joins the holder) and are deleted by the next acquire of the same meter.
CREATE TABLE tenantry.slot_holders (
  id           text PRIMARY KEY,
  -- The app instance's own name for itself, for people reading the table.
  instance_id  text NOT NULL,
  ttl_seconds  integer NOT NULL CHECK (ttl_seconds > 0),
  expires_at   timestamptz NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);

CREATE TABLE tenantry.usage_slots (
  tenant_id    text NOT NULL,
  id           text NOT NULL,
  meter        text NOT NULL,
  -- '' when the slot names no subject, as usage events store it.
  subject      text NOT NULL,
  holder_id    text NOT NULL REFERENCES tenantry.slot_holders (id) ON DELETE CASCADE,
  acquired_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX usage_slots_meter ON tenantry.usage_slots (tenant_id, meter, subject);
CREATE INDEX usage_slots_holder ON tenantry.usage_slots (holder_id);

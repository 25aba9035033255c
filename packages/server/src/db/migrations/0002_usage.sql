-- Usage metering: raw events (the record of truth, never deleted), hourly rollups kept current
-- in the same transaction as the events, lease accounting for hard limits, threshold crossings.

-- One row per accepted event. (tenant_id, id) is the idempotency key for as long as the event
-- is kept: a retried event is a duplicate however late it comes.
CREATE TABLE tenantry.usage_events (
  tenant_id    text NOT NULL,
  id           text NOT NULL,
  meter        text NOT NULL,
  value        numeric NOT NULL,
  time         timestamptz NOT NULL,
  subject      text NOT NULL DEFAULT '',
  -- The value unique_count counts for meters whose unique_by names a property.
  unique_value text,
  properties   jsonb,
  received_at  timestamptz NOT NULL,
  voided_at    timestamptz,
  void_reason  text,
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX usage_events_series ON tenantry.usage_events (tenant_id, meter, subject, time);

-- Per tenant, meter, UTC hour and subject ('' when the event has none). Which columns a meter
-- uses depends on its aggregation: sum and time_weighted (value x seconds) use `sum`, count uses
-- `count`, max uses `max`, latest uses `latest_*`. Exact: numeric, never floating point.
CREATE TABLE tenantry.usage_rollups (
  tenant_id     text NOT NULL,
  meter         text NOT NULL,
  hour          timestamptz NOT NULL,
  subject       text NOT NULL,
  sum           numeric NOT NULL DEFAULT 0,
  count         bigint NOT NULL DEFAULT 0,
  max           numeric,
  latest_time   timestamptz,
  latest_id     text,
  latest_value  numeric,
  PRIMARY KEY (tenant_id, meter, hour, subject)
);

-- The distinct values of unique_count meters, per hour and subject; a range's count is the
-- number of distinct values over its hours.
CREATE TABLE tenantry.usage_uniques (
  tenant_id  text NOT NULL,
  meter      text NOT NULL,
  hour       timestamptz NOT NULL,
  subject    text NOT NULL,
  value      text NOT NULL,
  PRIMARY KEY (tenant_id, meter, hour, subject, value)
);

-- Units of a hard limit handed to one app instance to spend locally.
CREATE TABLE tenantry.usage_leases (
  tenant_id     text NOT NULL,
  id            text NOT NULL,
  meter         text NOT NULL,
  instance_id   text NOT NULL,
  period_start  timestamptz NOT NULL,
  granted       numeric NOT NULL,
  consumed      numeric NOT NULL DEFAULT 0,
  expires_at    timestamptz NOT NULL,
  released_at   timestamptz,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX usage_leases_open ON tenantry.usage_leases (tenant_id, meter, period_start) WHERE released_at IS NULL;

-- Each threshold of each limit is reached at most once per tenant and period.
CREATE TABLE tenantry.usage_thresholds (
  tenant_id     text NOT NULL,
  meter         text NOT NULL,
  period_start  timestamptz NOT NULL,
  threshold     integer NOT NULL,
  limit_value   numeric NOT NULL,
  used          numeric NOT NULL,
  reached_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, meter, period_start, threshold)
);

-- Things that happened, for subscribers (webhooks come later). Written in the same transaction
-- as the change they report.
CREATE TABLE tenantry.domain_events (
  id          text PRIMARY KEY,
  type        text NOT NULL,
  tenant_id   text,
  data        jsonb NOT NULL,
  occurred_at timestamptz NOT NULL
);

CREATE INDEX domain_events_tenant ON tenantry.domain_events (tenant_id, occurred_at);

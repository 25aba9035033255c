-- Domain events become the outbox that webhooks are delivered from. The change recorder writes
-- each event in the transaction of the change it reports, so an event exists exactly when its
-- change committed; a deliverer claims unpublished events (FOR UPDATE SKIP LOCKED, on the
-- partial index below, so that several processes share the work), fans each out to the
-- endpoints subscribed to its type, and marks it published in the same transaction.
--
-- position: the order in which events were written, for delivering in order (ids are random
-- after their millisecond). A transaction that took a smaller position may commit after one
-- that took a larger: a deliverer that needs strict order per endpoint must allow for that.
-- version: the version of the payload schema of the event's type (EVENT_TYPES in @tenantry/core).
-- request_id: the request that made the change, as in its audit entry.
ALTER TABLE tenantry.domain_events
  ADD COLUMN position bigint GENERATED ALWAYS AS IDENTITY,
  ADD COLUMN version integer NOT NULL DEFAULT 1,
  ADD COLUMN request_id text,
  ADD COLUMN published_at timestamptz;

-- Events written before there were endpoints to deliver them to are not delivered late to
-- endpoints created from now on.
UPDATE tenantry.domain_events SET published_at = occurred_at;

CREATE UNIQUE INDEX domain_events_position ON tenantry.domain_events (position);
CREATE INDEX domain_events_unpublished ON tenantry.domain_events (position) WHERE published_at IS NULL;

import type { Schemas } from '@tenantry/core/api';
import { describe, expect, it } from 'vitest';
import { mergeTimeline, sourceOfAction, webhookFailures } from './timeline-merge.ts';

function entry(action: string, at: string, id = `aud_${at}`): Schemas['AuditEntry'] {
  return {
    action,
    actor: { id: 'key_1', type: 'api_key' },
    after: null,
    before: null,
    chain: 'ten_1',
    data: {},
    hash: null,
    id,
    object: 'audit_entry',
    occurred_at: at,
    prev_hash: null,
    request_id: null,
    seq: 1,
    source_ip: null,
    target: { id: 'ten_1', type: 'tenant' },
    tenant_id: 'ten_1',
  };
}

function delivery(attempts: Schemas['WebhookDelivery']['attempts']): Schemas['WebhookDelivery'] {
  return {
    attempt_count: attempts.length,
    attempts,
    created_at: '2026-12-01T00:00:00.000Z',
    delivered_at: null,
    endpoint_id: 'whe_1',
    event_id: 'evt_1',
    event_type: 'tenant.updated',
    id: 'whd_1',
    last_error: null,
    last_latency_ms: null,
    last_status: null,
    next_attempt_at: null,
    state: 'failed',
  };
}

const attempt = (at: string, status: number | null, error: string | null = null) => ({
  at,
  status,
  error,
  latency_ms: 10,
});

describe('sourceOfAction', () => {
  it('marks thresholds, invoices and license check-ins; the rest is the audit log', () => {
    expect(sourceOfAction('usage.threshold_reached')).toBe('threshold');
    expect(sourceOfAction('invoice.finalized')).toBe('invoice');
    expect(sourceOfAction('invoice.paid')).toBe('invoice');
    expect(sourceOfAction('license.checked_in')).toBe('license');
    expect(sourceOfAction('license.issued')).toBe('audit');
    expect(sourceOfAction('tenant.suspended')).toBe('audit');
  });
});

describe('webhookFailures', () => {
  it('keeps the attempts with no answer or an answer that is not 2xx', () => {
    const failures = webhookFailures('https://hooks.example.com/in', [
      delivery([
        attempt('2026-12-01T00:00:01.000Z', 500, 'the receiver answered 500'),
        attempt('2026-12-01T00:00:02.000Z', null, 'timed out'),
        attempt('2026-12-01T00:00:03.000Z', 204),
      ]),
    ]);
    expect(failures.map((failure) => [failure.at, failure.status, failure.error])).toEqual([
      ['2026-12-01T00:00:01.000Z', 500, 'the receiver answered 500'],
      ['2026-12-01T00:00:02.000Z', null, 'timed out'],
    ]);
  });
});

describe('mergeTimeline', () => {
  const audit = [
    entry('invoice.finalized', '2026-12-05T00:00:00.000Z'),
    entry('usage.threshold_reached', '2026-12-03T00:00:00.000Z'),
    entry('license.checked_in', '2026-12-02T00:00:00.000Z'),
  ];
  const failures = webhookFailures('https://hooks.example.com/in', [
    delivery([attempt('2026-12-04T00:00:00.000Z', 500), attempt('2026-12-01T00:00:00.000Z', 503)]),
  ]);

  it('orders every source newest first, each item marked with its source', () => {
    const merged = mergeTimeline(audit, true, failures);
    expect(merged.map((item) => [item.at.slice(0, 10), item.source])).toEqual([
      ['2026-12-05', 'invoice'],
      ['2026-12-04', 'webhook'],
      ['2026-12-03', 'threshold'],
      ['2026-12-02', 'license'],
      ['2026-12-01', 'webhook'],
    ]);
  });

  it('holds back failures older than the oldest audit entry read while older pages remain', () => {
    const merged = mergeTimeline(audit, false, failures);
    expect(merged.map((item) => item.at.slice(0, 10))).toEqual([
      '2026-12-05',
      '2026-12-04',
      '2026-12-03',
      '2026-12-02',
    ]);
    // No audit entry at all and more to read: nothing to place a failure against yet, so all show.
    expect(mergeTimeline([], false, failures)).toHaveLength(2);
  });

  it('keeps the audit log’s order between entries of the same instant', () => {
    const same = [
      entry('tenant.resumed', '2026-12-05T00:00:00.000Z', 'b'),
      entry('tenant.suspended', '2026-12-05T00:00:00.000Z', 'a'),
    ];
    const merged = mergeTimeline(same, true, []);
    expect(merged.map((item) => (item.source === 'webhook' ? '' : item.entry.id))).toEqual(['b', 'a']);
  });
});

import { describe, expect, it } from 'vitest';
import { runAsTenant } from '../context/index.ts';
import { InvalidUsageRecordError, type UsageRecord, usageEventLine } from './usage-record.ts';

const now = () => new Date('2026-11-10T12:00:00.000Z');

function fieldOf(record: unknown): string {
  try {
    usageEventLine(record as UsageRecord, now);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidUsageRecordError);
    expect((error as Error).message).toMatch(/^usage record: /);
    return (error as InvalidUsageRecordError).field;
  }
  throw new Error('the record was accepted');
}

describe('usageEventLine', () => {
  it('fills in the id and the time, and keeps what was given', () => {
    const { id, line } = usageEventLine({ tenant: 'acme', meter: 'api_calls', value: 2.5 }, now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(line)).toEqual({
      id,
      tenant: 'acme',
      meter: 'api_calls',
      value: 2.5,
      time: '2026-11-10T12:00:00.000Z',
    });
    const full = usageEventLine(
      {
        tenant: 'acme',
        meter: 'meetings',
        id: 'mtg-1',
        subject: 'user_42',
        time: new Date('2026-11-10T11:00:00+01:00'),
        properties: { room: 'b' },
      },
      now,
    );
    expect(full.id).toBe('mtg-1');
    expect(JSON.parse(full.line)).toEqual({
      id: 'mtg-1',
      tenant: 'acme',
      meter: 'meetings',
      time: '2026-11-10T10:00:00.000Z',
      subject: 'user_42',
      properties: { room: 'b' },
    });
  });

  it('takes the tenant from the tenant context when none is given', () => {
    const { line } = runAsTenant({ tenantId: 'ten_1', subject: 'u', roles: [] }, () =>
      usageEventLine({ meter: 'meetings' }, now),
    );
    expect(JSON.parse(line).tenant).toBe('ten_1');
    expect(fieldOf({ meter: 'meetings' })).toBe('tenant');
  });

  it('snapshots the properties: changing them afterwards changes nothing', () => {
    const properties: Record<string, unknown> = { room: 'a' };
    const { line } = usageEventLine({ tenant: 'acme', meter: 'meetings', properties }, now);
    properties.room = 'changed';
    expect(JSON.parse(line).properties).toEqual({ room: 'a' });
  });

  it('names the wrong field', () => {
    expect(fieldOf(null)).toBe('(record)');
    expect(fieldOf({ tenant: 'acme' })).toBe('meter');
    expect(fieldOf({ tenant: 'acme', meter: '' })).toBe('meter');
    expect(fieldOf({ tenant: 'acme', meter: 'x'.repeat(64) })).toBe('meter');
    expect(fieldOf({ tenant: 'acme', meter: 'm', value: -1 })).toBe('value');
    expect(fieldOf({ tenant: 'acme', meter: 'm', value: Number.NaN })).toBe('value');
    expect(fieldOf({ tenant: 'acme', meter: 'm', value: '3' })).toBe('value');
    expect(fieldOf({ tenant: 'acme', meter: 'm', id: '' })).toBe('id');
    expect(fieldOf({ tenant: 'acme', meter: 'm', subject: 'x'.repeat(201) })).toBe('subject');
    expect(fieldOf({ tenant: 'acme', meter: 'm', time: 'yesterday' })).toBe('time');
    expect(fieldOf({ tenant: 'acme', meter: 'm', time: new Date('nope') })).toBe('time');
    expect(fieldOf({ tenant: 'acme', meter: 'm', properties: [] })).toBe('properties');
    expect(fieldOf({ tenant: 'acme', meter: 'm', properties: { n: 1n } })).toBe('properties');
    expect(fieldOf({ tenant: '', meter: 'm' })).toBe('tenant');
    // A misspelt field is refused rather than dropped.
    expect(fieldOf({ tenant: 'acme', meter: 'm', subjet: 'alice' })).toBe('subjet');
  });
});

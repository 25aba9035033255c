import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CloudUsageEvent,
  fromCloudEvent,
  hourOf,
  MAX_CLOCK_SKEW_MS,
  timeOutOfRange,
  UsageEventInput,
} from './usage-event.ts';

const base = { id: 'e1', tenant: 'acme', meter: 'api_calls', time: '2026-11-10T12:00:00Z' };
const issue = (input: unknown) => {
  const result = UsageEventInput.safeParse(input);
  expect(result.success).toBe(false);
  return result.error?.issues[0];
};

describe('UsageEventInput', () => {
  it('takes the documented shape, with value, subject and properties optional', () => {
    expect(UsageEventInput.parse(base)).toEqual(base);
    const full = { ...base, value: 2.5, subject: 'u1', properties: { region: 'eu', n: 1 } };
    expect(UsageEventInput.parse(full)).toEqual(full);
    expect(UsageEventInput.parse({ ...base, time: '2026-11-10T14:00:00.123+02:00' }).time).toBe(
      '2026-11-10T14:00:00.123+02:00',
    );
  });

  it('names the field of a bad value: negative, non-numeric, null, infinite', () => {
    for (const value of [-1, '5', null, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(issue({ ...base, value })?.path).toEqual(['value']);
    }
    expect(issue({ ...base, value: -0.5 })?.message).toMatch(/>=0/);
  });

  it('refuses times without a zone, impossible dates and non-strings', () => {
    for (const time of ['2026-11-10T12:00:00', '2026-02-30T12:00:00Z', 'yesterday', 1_700_000_000_000]) {
      expect(issue({ ...base, time })?.path).toEqual(['time']);
    }
  });

  it('refuses unknown fields, naming them, and events that are not objects', () => {
    const unknown = issue({ ...base, colour: 'red' });
    expect(unknown?.code).toBe('unrecognized_keys');
    expect(unknown?.message).toContain('colour');
    for (const input of [null, 5, 'e1', [base]]) expect(issue(input)?.message).toMatch(/expected object/);
  });

  it('refuses empty or oversized ids, tenants, meters and subjects', () => {
    expect(issue({ ...base, id: '' })?.path).toEqual(['id']);
    expect(issue({ ...base, id: 'x'.repeat(201) })?.path).toEqual(['id']);
    expect(issue({ ...base, tenant: '' })?.path).toEqual(['tenant']);
    expect(issue({ ...base, meter: 'm'.repeat(64) })?.path).toEqual(['meter']);
    expect(issue({ ...base, subject: '' })?.path).toEqual(['subject']);
    expect(issue({ ...base, properties: ['a'] })?.path).toEqual(['properties']);
  });
});

describe('CloudEvents', () => {
  const cloud = {
    specversion: '1.0',
    id: 'c1',
    source: 'acme',
    type: 'api_calls',
    time: '2026-11-10T12:00:00Z',
    subject: 'u1',
    datacontenttype: 'application/json',
    data: { value: 3, project: 'p1' },
  };

  it('maps source to tenant, type to meter, data.value to value and the rest of data to properties', () => {
    expect(fromCloudEvent(CloudUsageEvent.parse(cloud))).toEqual({
      id: 'c1',
      tenant: 'acme',
      meter: 'api_calls',
      time: '2026-11-10T12:00:00Z',
      value: 3,
      subject: 'u1',
      properties: { project: 'p1' },
    });
  });

  it('leaves value and properties out when data has none, so a count event needs no data', () => {
    const { data: _data, subject: _subject, ...bare } = cloud;
    const mapped = fromCloudEvent(CloudUsageEvent.parse(bare));
    expect(mapped).toEqual({ id: 'c1', tenant: 'acme', meter: 'api_calls', time: '2026-11-10T12:00:00Z' });
    expect(UsageEventInput.safeParse(mapped).success).toBe(true);
  });

  it('requires specversion 1.0 and names a missing attribute', () => {
    const wrong = CloudUsageEvent.safeParse({ ...cloud, specversion: '0.3' });
    expect(wrong.error?.issues[0]?.path).toEqual(['specversion']);
    const { source: _source, ...noSource } = cloud;
    expect(CloudUsageEvent.safeParse(noSource).error?.issues[0]?.path).toEqual(['source']);
  });

  it('passes a non-numeric data.value on, for the event validation to refuse by name', () => {
    const mapped = fromCloudEvent(CloudUsageEvent.parse({ ...cloud, data: { value: '3' } }));
    expect(UsageEventInput.safeParse(mapped).error?.issues[0]?.path).toEqual(['value']);
  });
});

describe('timeOutOfRange', () => {
  const now = new Date('2026-11-10T12:00:00Z');
  const window = 35 * 86_400_000;

  it('accepts up to 5 minutes ahead and back to the start of the late window, both included', () => {
    expect(timeOutOfRange(new Date(now.getTime() + MAX_CLOCK_SKEW_MS), now, window)).toBeNull();
    expect(timeOutOfRange(new Date(now.getTime() - window), now, window)).toBeNull();
    expect(timeOutOfRange(now, now, window)).toBeNull();
  });

  it('says why a time is refused', () => {
    expect(timeOutOfRange(new Date(now.getTime() + MAX_CLOCK_SKEW_MS + 1), now, window)).toMatch(
      /more than 5 minutes ahead/,
    );
    expect(timeOutOfRange(new Date(now.getTime() - window - 1), now, window)).toMatch(
      /before the late window, which opens at 2026-10-06T12:00:00.000Z/,
    );
  });
});

describe('hourOf', () => {
  it('is the start of the UTC hour holding the instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
        (d) => {
          const hour = hourOf(d);
          expect(hour.getTime() % 3_600_000).toBe(0);
          expect(hour.getTime()).toBeLessThanOrEqual(d.getTime());
          expect(d.getTime() - hour.getTime()).toBeLessThan(3_600_000);
        },
      ),
    );
  });
});

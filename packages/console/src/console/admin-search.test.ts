import { describe, expect, it } from 'vitest';
import {
  auditQuery,
  chosenTypes,
  parseAuditSearch,
  parseInvoiceSearch,
  parseShowbackSearch,
} from './admin-search.ts';

describe('parseInvoiceSearch', () => {
  it('keeps what the API takes and drops the rest', () => {
    expect(
      parseInvoiceSearch({ status: 'paid', tenant: ' acme ', object: 'credit_note', period: '2026-11' }),
    ).toEqual({
      status: 'paid',
      tenant: 'acme',
      object: 'credit_note',
      period: '2026-11',
    });
    // A draft is never listed; an unknown kind; an empty tenant; a month that is not one.
    expect(
      parseInvoiceSearch({ status: 'draft', tenant: '  ', object: 'receipt', period: '2026-13' }),
    ).toEqual({
      status: undefined,
      tenant: undefined,
      object: undefined,
      period: undefined,
    });
  });
});

describe('parseShowbackSearch', () => {
  it('keeps a month and a currency the API takes, and drops the rest', () => {
    expect(parseShowbackSearch({ period: '2026-10', currency: 'eur' })).toEqual({
      period: '2026-10',
      currency: 'eur',
    });
    // A month that is not one; a code Tenantry does not bill in (the API refuses it); a number.
    expect(parseShowbackSearch({ period: '2026-13', currency: 'aaa' })).toEqual({
      period: undefined,
      currency: undefined,
    });
    // A link typed in upper case still means its currency: the API takes the lower case.
    expect(parseShowbackSearch({ currency: 'EUR' })).toEqual({ period: undefined, currency: 'eur' });
    expect(parseShowbackSearch({ period: 202610, currency: 'euro' })).toEqual({
      period: undefined,
      currency: undefined,
    });
  });
});

describe('parseAuditSearch', () => {
  it('keeps the text filters trimmed and real days only', () => {
    expect(
      parseAuditSearch({
        action: ' tenant.suspended ',
        chain: 'operator',
        since: '2026-12-01',
        until: '2026-13-45',
      }),
    ).toEqual({
      chain: 'operator',
      action: 'tenant.suspended',
      actor_type: undefined,
      actor_id: undefined,
      target_type: undefined,
      target_id: undefined,
      since: '2026-12-01',
      until: undefined,
    });
    expect(parseAuditSearch({ since: '1 December' }).since).toBeUndefined();
  });
});

describe('auditQuery', () => {
  it('sends the days as instants, the last day included (the API range is half-open)', () => {
    expect(auditQuery({ action: 'invoice.paid', since: '2026-12-01', until: '2026-12-05' })).toEqual({
      action: 'invoice.paid',
      since: '2026-12-01T00:00:00.000Z',
      until: '2026-12-06T00:00:00.000Z',
    });
    expect(auditQuery({ chain: 'operator' })).toEqual({ chain: 'operator' });
  });
});

describe('chosenTypes', () => {
  const form = (...values: string[]) => {
    const data = new FormData();
    for (const value of values) data.append('event_types', value);
    return data;
  };
  it('sends a type once: a pattern that covers it stands for it', () => {
    expect(chosenTypes(form('tenant.created', 'tenant.*', 'invoice.paid'))).toEqual([
      'tenant.*',
      'invoice.paid',
    ]);
    expect(chosenTypes(form('tenant.*', '*', 'invoice.paid'))).toEqual(['*']);
    // `tenant_key.created` is not under `tenant.*`.
    expect(chosenTypes(form('tenant.*', 'tenant_key.created'))).toEqual(['tenant.*', 'tenant_key.created']);
  });
});

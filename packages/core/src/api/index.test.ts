import { describe, expect, test } from 'vitest';
import { operationUrl, pathParams } from './index.ts';

describe('operationUrl', () => {
  test('fills each path parameter, percent-encoded, and leaves out undefined query values', () => {
    expect(
      operationUrl('/v1/tenants/{id}/leases/{lease_id}/renew', {
        path: { id: 'acme co/1', lease_id: 'lse_1' },
      }),
    ).toBe('/v1/tenants/acme%20co%2F1/leases/lse_1/renew');
    expect(
      operationUrl('/v1/tenants', { query: { state: 'active', limit: 5, cursor: undefined, plan: null } }),
    ).toBe('/v1/tenants?state=active&limit=5');
    expect(operationUrl('/v1/plans')).toBe('/v1/plans');
  });

  test('refuses a template whose parameter has no value, naming it', () => {
    expect(() => operationUrl('/v1/tenants/{id}', { path: {} })).toThrow(
      'no value for {id} in /v1/tenants/{id}',
    );
  });
});

describe('pathParams', () => {
  test('reads back the parameters operationUrl filled in, decoded', () => {
    const template = '/v1/tenants/{id}/leases/{lease_id}/renew';
    const params = { id: "acme co/1 'x' $(id)", lease_id: 'lse_1' };
    expect(pathParams(template, operationUrl(template, { path: params }))).toEqual(params);
  });

  test('matches nothing when a segment differs, is missing, is empty or is not percent-encoded', () => {
    expect(pathParams('/v1/tenants/{id}', '/v1/plans/acme')).toBeUndefined();
    expect(pathParams('/v1/tenants/{id}', '/v1/tenants')).toBeUndefined();
    expect(pathParams('/v1/tenants/{id}', '/v1/tenants/')).toBeUndefined();
    expect(pathParams('/v1/tenants/{id}', '/v1/tenants/%E0%A4%A')).toBeUndefined();
  });
});

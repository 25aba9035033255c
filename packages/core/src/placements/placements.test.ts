import { describe, expect, it } from 'vitest';
import { isPlacement, isVendorPlacement, PLACEMENTS, plannedResources } from './index.ts';

describe('placements', () => {
  it('names a vendor tenant its schema, database and role from its id, the same each time', () => {
    expect(plannedResources('ten_a1', 'schema', 'dpl_x')).toEqual({
      placement: 'schema',
      data_plane: 'dpl_x',
      schema: 'ten_a1',
      role: 'tenantry_ten_a1',
    });
    expect(plannedResources('ten_a1', 'database', 'dpl_x')).toEqual({
      placement: 'database',
      data_plane: 'dpl_x',
      database: 'tenantry_ten_a1',
      role: 'tenantry_ten_a1',
    });
    expect(plannedResources('ten_a1', 'pool', 'dpl_x')).toEqual({ placement: 'pool', data_plane: 'dpl_x' });
  });

  it('leaves what a customer must supply empty until it is given', () => {
    expect(plannedResources('ten_a1', 'byoi', 'dpl_c', 'app')).toEqual({
      placement: 'byoi',
      data_plane: 'dpl_c',
      database: null,
      schema: 'app',
    });
    expect(plannedResources('ten_a1', 'byoi_agent', 'dpl_c')).toMatchObject({
      agent: null,
      schema: 'public',
    });
  });

  it('tells placements from other strings and vendor-run ones from the customer’s', () => {
    expect(PLACEMENTS.every(isPlacement)).toBe(true);
    expect(isPlacement('self_hosted')).toBe(false);
    expect(isPlacement(undefined)).toBe(false);
    expect(PLACEMENTS.filter(isVendorPlacement)).toEqual(['pool', 'schema', 'database']);
  });
});

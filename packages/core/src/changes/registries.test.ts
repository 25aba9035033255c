import { describe, expect, it } from 'vitest';
import { TENANT_STATES, TENANT_TRANSITIONS } from '../tenants/index.ts';
import { AUDIT_ACTIONS, type AuditActionSpec, isAuditAction, TARGET_TYPES } from './audit-actions.ts';
import { EVENT_TYPES, isEventType } from './event-types.ts';
import { changedFields, redact, SECRET_FIELDS } from './redaction.ts';
import { transitionRecord } from './tenant-transitions.ts';

const actions = Object.entries(AUDIT_ACTIONS) as [string, AuditActionSpec][];

describe('the audit-action registry', () => {
  it('names every action <object>.<verb>, with a known target and description', () => {
    for (const [name, spec] of actions) {
      expect(name).toMatch(/^[a-z_]+\.[a-z_]+$/);
      expect(TARGET_TYPES, name).toContain(spec.target);
      expect(spec.description.length, name).toBeGreaterThan(10);
    }
  });

  it('raises only registered event types, each at most once per action', () => {
    for (const [name, spec] of actions) {
      for (const type of [...spec.raises, ...(spec.also ?? [])])
        expect(isEventType(type), `${name}: ${type}`).toBe(true);
      expect(new Set(spec.raises).size, name).toBe(spec.raises.length);
    }
  });

  it('leaves no event type unraised', () => {
    const raised = new Set(actions.flatMap(([, spec]) => [...spec.raises, ...(spec.also ?? [])]));
    expect(Object.keys(EVENT_TYPES).filter((type) => !raised.has(type as never))).toEqual([]);
  });

  it('tells actions and event types from other strings', () => {
    expect(isAuditAction('tenant.suspended')).toBe(true);
    expect(isAuditAction('tenant.vanished')).toBe(false);
    expect(isAuditAction('toString')).toBe(false);
    expect(isEventType('key.revoked')).toBe(true);
    expect(isEventType('api_key.revoked')).toBe(false);
  });
});

describe('the event-type registry', () => {
  it('names every type <object>.<event>, versioned from 1, with a payload schema', () => {
    for (const [type, spec] of Object.entries(EVENT_TYPES)) {
      expect(type).toMatch(/^[a-z_]+\.[a-z_]+$/);
      expect(Number.isInteger(spec.version) && spec.version >= 1, type).toBe(true);
      expect(spec.description.length, type).toBeGreaterThan(10);
      expect(typeof spec.payload.safeParse, type).toBe('function');
    }
  });

  it('checks payloads: a tenant transition names its states, an invoice its id', () => {
    expect(
      EVENT_TYPES['tenant.suspended'].payload.safeParse({ from: 'active', to: 'suspended' }).success,
    ).toBe(true);
    expect(EVENT_TYPES['tenant.suspended'].payload.safeParse({ from: 'active', to: 'asleep' }).success).toBe(
      false,
    );
    expect(EVENT_TYPES['invoice.paid'].payload.safeParse({ number: 'INV-000001' }).success).toBe(false);
  });
});

describe('tenant transitions', () => {
  it('record every move the lifecycle allows with an action that raises the named event', () => {
    for (const from of TENANT_STATES) {
      for (const to of TENANT_STATES) {
        const record = transitionRecord(from, to);
        if (!TENANT_TRANSITIONS[from].includes(to)) {
          expect(record, `${from} → ${to}`).toBeUndefined();
          continue;
        }
        expect(record, `${from} → ${to}`).toBeDefined();
        if (record === undefined) continue;
        const spec: AuditActionSpec = AUDIT_ACTIONS[record.action];
        expect(spec.raises, `${from} → ${to}`).toContain(record.event);
        expect(spec.target).toBe('tenant');
        expect(spec.entitlements).toBe(true);
      }
    }
  });

  it('name the same move the same way as the operator actions: activate ends past_due, resume lifts a suspension', () => {
    expect(transitionRecord('past_due', 'active')).toEqual({
      action: 'tenant.activated',
      event: 'tenant.reactivated',
    });
    expect(transitionRecord('suspended', 'active')).toEqual({
      action: 'tenant.resumed',
      event: 'tenant.reactivated',
    });
    expect(transitionRecord('trialing', 'active')).toEqual({
      action: 'tenant.activated',
      event: 'tenant.activated',
    });
    expect(transitionRecord('provisioning', 'trialing')?.action).toBe('tenant.provisioned');
    expect(transitionRecord('deleted', 'active')).toBeUndefined();
  });
});

describe('redaction', () => {
  it('drops secret members at any depth and keeps the rest', () => {
    const value = {
      name: 'ci',
      secret: 'tnt_sk_x',
      nested: { secret_hash: 'abc', kept: 1, list: [{ private_jwk: { d: 'x' }, kid: 'k1' }] },
      Password: 'in another letter case',
      at: new Date('2026-01-01T00:00:00Z'),
    };
    expect(redact(value)).toEqual({
      name: 'ci',
      nested: { kept: 1, list: [{ kid: 'k1' }] },
      at: new Date('2026-01-01T00:00:00Z'),
    });
    expect(value.secret).toBe('tnt_sk_x');
  });

  it('lists the secrets an audit entry must never hold', () => {
    for (const name of [
      'secret',
      'secret_hash',
      'private_jwk',
      'private_key_sealed',
      'access_token',
      'password',
    ])
      expect(SECRET_FIELDS.has(name), name).toBe(true);
  });

  it('keeps only the fields that changed, and never a secret one', () => {
    expect(
      changedFields(
        { name: 'a', seats: 3, metadata: { x: '1', y: '2' }, secret_hash: 'h1', region: null },
        { name: 'b', seats: 3, metadata: { y: '2', x: '1' }, secret_hash: 'h2', region: 'eu' },
      ),
    ).toEqual({ before: { name: 'a', region: null }, after: { name: 'b', region: 'eu' } });
    expect(changedFields({ a: 1 }, { a: 1 })).toBeNull();
    expect(changedFields({}, { reference: 'pm_1' })).toEqual({
      before: { reference: null },
      after: { reference: 'pm_1' },
    });
    expect(changedFields({ secret: 'old' }, { secret: 'new' })).toBeNull();
    expect(changedFields({ key: { secret: 's1', id: 'k' } }, { key: { secret: 's2', id: 'k2' } })).toEqual({
      before: { key: { id: 'k' } },
      after: { key: { id: 'k2' } },
    });
  });
});

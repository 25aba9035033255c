import { describe, expect, it } from 'vitest';
import {
  ACTION_RULES,
  allowedActions,
  applyAction,
  canTransition,
  isTenantAction,
  isTenantState,
  TENANT_ACTIONS,
  TENANT_STATES,
  type TenantState,
} from './lifecycle.ts';

describe('tenant lifecycle', () => {
  it('allows exactly the documented transitions', () => {
    const allowed = new Set([
      'provisioning>trialing',
      'provisioning>active',
      'provisioning>provisioning_failed',
      'provisioning_failed>provisioning',
      'provisioning_failed>deleted',
      'trialing>active',
      'trialing>suspended',
      'trialing>cancelled',
      'active>past_due',
      'active>suspended',
      'active>cancelled',
      'past_due>active',
      'past_due>suspended',
      'past_due>cancelled',
      'suspended>active',
      'suspended>cancelled',
      'cancelled>deleted',
    ]);
    for (const from of TENANT_STATES) {
      for (const to of TENANT_STATES) {
        expect(canTransition(from, to), `${from} → ${to}`).toBe(allowed.has(`${from}>${to}`));
      }
    }
  });

  it('lists the actions each state accepts', () => {
    const expected: Record<TenantState, string[]> = {
      provisioning: [],
      provisioning_failed: ['delete', 'retry_provisioning'],
      trialing: ['activate', 'suspend', 'cancel'],
      active: ['suspend', 'cancel', 'mark_past_due'],
      past_due: ['activate', 'suspend', 'cancel'],
      suspended: ['resume', 'cancel'],
      cancelled: ['delete'],
      deleted: [],
    };
    for (const state of TENANT_STATES) expect(allowedActions(state), state).toEqual(expected[state]);
  });

  it('moves a tenant by every action only along an allowed transition', () => {
    for (const state of TENANT_STATES) {
      for (const action of TENANT_ACTIONS) {
        const result = applyAction(state, action);
        if (result.ok) {
          expect(result.value).toBe(ACTION_RULES[action].to);
          expect(canTransition(state, result.value), `${state} --${action}-->`).toBe(true);
        }
        expect(result.ok).toBe(allowedActions(state).includes(action));
      }
    }
  });

  it('resumes only a suspended tenant, and activates only from trial or past due', () => {
    expect(applyAction('suspended', 'resume')).toEqual({ ok: true, value: 'active' });
    expect(applyAction('suspended', 'activate').ok).toBe(false);
    expect(applyAction('active', 'resume').ok).toBe(false);
    expect(applyAction('trialing', 'activate')).toEqual({ ok: true, value: 'active' });
    expect(applyAction('past_due', 'activate')).toEqual({ ok: true, value: 'active' });
    expect(applyAction('active', 'mark_past_due')).toEqual({ ok: true, value: 'past_due' });
    expect(applyAction('provisioning_failed', 'retry_provisioning')).toEqual({
      ok: true,
      value: 'provisioning',
    });
  });

  it('answers illegal_transition naming the state, the action and what is allowed', () => {
    const result = applyAction('cancelled', 'suspend');
    expect(result).toEqual({
      ok: false,
      error: {
        code: 'illegal_transition',
        detail: 'A tenant in state "cancelled" cannot take the action "suspend"; allowed actions: delete.',
        details: { state: 'cancelled', action: 'suspend', allowed_actions: ['delete'] },
      },
    });
    const deleted = applyAction('deleted', 'delete');
    expect(!deleted.ok && deleted.error.detail).toBe(
      'A tenant in state "deleted" cannot take the action "delete"; it accepts no action.',
    );
    expect(!deleted.ok && deleted.error.details).toEqual({
      state: 'deleted',
      action: 'delete',
      allowed_actions: [],
    });
  });

  it('recognises states and actions in unvalidated input', () => {
    expect(isTenantState('past_due')).toBe(true);
    expect(isTenantState('paused')).toBe(false);
    expect(isTenantAction('resume')).toBe(true);
    expect(isTenantAction('toString')).toBe(false);
    expect(canTransition('nope' as TenantState, 'active')).toBe(false);
  });
});

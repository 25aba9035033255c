import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from './index.ts';

describe('@tenantry/core public API', () => {
  it('exports the functions and values other packages rely on', () => {
    const functions = [
      'ok',
      'err',
      'fail',
      'isCurrency',
      'minorUnitDigits',
      'toMinorUnits',
      'canonicalJson',
      'parsePlanFile',
      'resolvePlans',
      'parseOverrides',
      'applyOverrides',
      'allowedActions',
      'applyAction',
      'canTransition',
      'billingPeriod',
      'evaluateEntitlements',
      'hasFeature',
      'limitOf',
      'configValue',
      'transitionRecord',
      'changedFields',
      'redact',
      'isAuditAction',
      'isEventType',
      'licenseKeyring',
      'signLicense',
      'verifyLicense',
      'signUsageReport',
      'verifyUsageReport',
      'reportDigest',
    ];
    const api: Record<string, unknown> = { ...core };
    for (const name of functions) expect(typeof api[name], name).toBe('function');
    expect(core.TENANT_STATES).toContain('past_due');
    expect(core.TENANT_ACTIONS).toContain('retry_provisioning');
    expect(core.errorCatalog.illegal_transition.status).toBe(409);
    expect(core.AUDIT_ACTIONS['tenant.suspended'].raises).toEqual(['tenant.suspended']);
    expect(core.EVENT_TYPES['usage.threshold_reached'].version).toBe(1);
    expect(typeof core.PlanFileSchema.safeParse).toBe('function');
    expect(typeof core.DecimalAmount.safeParse).toBe('function');
    expect(core.LICENSE_TYPE).toBe('tenantry-license+jwt');
  });
});

describe('purity of core', () => {
  const sources = (readdirSync(new URL('.', import.meta.url), { recursive: true }) as string[])
    .filter((path) => path.endsWith('.ts') && !path.endsWith('.test.ts'))
    .map((path) => ({ path, text: readFileSync(new URL(path, import.meta.url), 'utf8') }));

  it('finds the sources', () => {
    expect(sources.map((source) => source.path)).toContain('index.ts');
    expect(sources.length).toBeGreaterThan(10);
  });

  it('imports nothing but zod, jose and its own modules, and reads no clock or randomness', () => {
    const seen = new Set<string | undefined>();
    for (const { path, text } of sources) {
      const imports = [...text.matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gm)].map(
        (match) => match[1],
      );
      for (const specifier of imports) {
        seen.add(specifier);
        expect(
          specifier === 'zod' || specifier === 'jose' || specifier?.startsWith('.'),
          `${path} imports ${specifier}`,
        ).toBe(true);
      }
      expect(text, path).not.toMatch(/Date\.now\(|Math\.random\(|new Date\(\)|performance\.now\(|process\./);
    }
    expect(seen).toContain('zod');
    expect(seen).toContain('../result.ts');
  });
});

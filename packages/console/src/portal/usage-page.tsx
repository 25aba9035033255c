import { lazy, Suspense } from 'react';
import { Loading } from '../shared/components/index.ts';
import { Needs } from './access.tsx';

// The operator's usage view itself (one component, the same numbers and charts), in its own chunk
// with recharts, read when this page is first opened.
const TenantUsage = lazy(() =>
  import('../shared/usage.tsx').then((module) => ({ default: module.TenantUsage })),
);

/** The organisation's usage against its plan's limits (`billing:read`: entitlements and usage). */
export function UsagePage() {
  return (
    <Needs permission="billing:read" title="Usage">
      {(tenant) => (
        <>
          <h1>Usage</h1>
          <Suspense fallback={<Loading what="the usage view" />}>
            <TenantUsage tenant={tenant} />
          </Suspense>
        </>
      )}
    </Needs>
  );
}

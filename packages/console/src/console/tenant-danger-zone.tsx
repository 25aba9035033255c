import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { send } from '../shared/api.ts';
import { ErrorNotice, TypedConfirm } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';

/** The states a tenant may be cancelled from, as the lifecycle allows (the API refuses the others). */
const CANCELLABLE: readonly Tenant['state'][] = ['trialing', 'active', 'past_due', 'suspended'];
/** The states a tenant may be deleted from: cancelled, or never provisioned. */
const DELETABLE: readonly Tenant['state'][] = ['cancelled', 'provisioning_failed'];

/**
 * Cancelling and deleting a tenant, each behind its slug typed out: cancelling ends its
 * subscription now (`POST /v1/tenants/{id}/cancel`), deleting (`DELETE /v1/tenants/{id}`) removes
 * its data after the retention period. Only the action its state allows is offered.
 */
export function DangerZone({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const [asking, setAsking] = useState<'cancel' | 'delete' | undefined>();
  const act = useMutation({
    mutationFn: (action: 'cancel' | 'delete') =>
      send<Tenant>(
        action === 'cancel'
          ? { method: 'POST', url: `/v1/tenants/${encodeURIComponent(tenant.id)}/cancel`, body: {} }
          : { method: 'DELETE', url: `/v1/tenants/${encodeURIComponent(tenant.id)}` },
      ),
    onSuccess: (changed) => {
      setAsking(undefined);
      client.setQueryData(['tenant', tenant.slug], changed);
      client.setQueryData(['tenant', tenant.id], changed);
      client.invalidateQueries({ queryKey: ['tenants'] }).catch((error: unknown) => console.warn(error));
      client.invalidateQueries({ queryKey: ['fleet'] }).catch((error: unknown) => console.warn(error));
    },
  });
  const action = CANCELLABLE.includes(tenant.state)
    ? 'cancel'
    : DELETABLE.includes(tenant.state)
      ? 'delete'
      : undefined;
  if (action === undefined) return null;
  const words = `${action === 'cancel' ? 'Cancel' : 'Delete'} ${tenant.slug}`;
  return (
    <section aria-labelledby="danger-heading" className="danger-zone">
      <h2 id="danger-heading">Danger zone</h2>
      <p>
        {action === 'cancel'
          ? 'Cancelling ends the subscription now: the tenant is billed up to this instant and its members lose access.'
          : 'Deleting removes the tenant; its schema, database or pool rows are removed after the retention period.'}
      </p>
      {asking === action ? (
        <TypedConfirm
          action={words}
          expected={tenant.slug}
          busy={act.isPending}
          onConfirm={() => act.mutate(action)}
          onCancel={() => setAsking(undefined)}
        />
      ) : (
        <button type="button" onClick={() => setAsking(action)}>
          {`${words}…`}
        </button>
      )}
      {act.isError ? <ErrorNotice error={act.error} /> : null}
    </section>
  );
}

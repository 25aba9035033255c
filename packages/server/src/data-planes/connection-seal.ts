import { err, ok, type Result } from '@tenantry/core';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';
import { type SecretBox, SecretUnreadableError } from '../secrets/index.ts';
import { decryptValue, encryptValue, existingTenantDataKey } from '../tenant-secrets/index.ts';
import { type ConnectionDetails, SSL_MODES } from './connection.ts';

/*
 * Connection details at rest. A vendor data plane's are sealed with the master key for a purpose
 * naming the data plane; a customer's under the tenant's data key (AES-256-GCM), bound to the
 * tenant and the data plane. Either way a sealed value copied to another data plane's (or
 * tenant's) row does not open there, and a customer's dies with the tenant's data key, which
 * deleting the tenant destroys (crypto-shredding).
 */

/** The SecretBox purpose a vendor data plane's connection is sealed for. */
export function vendorConnectionPurpose(dataPlaneId: string): string {
  return `data_plane_connection:${dataPlaneId}`;
}

/** The associated data a customer data plane's connection is bound to. NUL separates the parts, which none may hold. */
export function customerConnectionBinding(tenantId: string, dataPlaneId: string): Buffer {
  return Buffer.from(`tenantry.data_plane_connection.v1\0${tenantId}\0${dataPlaneId}`, 'utf8');
}

export function sealVendorConnection(
  secrets: SecretBox,
  dataPlaneId: string,
  details: ConnectionDetails,
): Promise<string> {
  return secrets.seal(vendorConnectionPurpose(dataPlaneId), JSON.stringify(details));
}

export function sealCustomerConnection(
  dataKey: Uint8Array,
  tenantId: string,
  dataPlaneId: string,
  details: ConnectionDetails,
): string {
  return encryptValue(dataKey, customerConnectionBinding(tenantId, dataPlaneId), JSON.stringify(details));
}

/** A data plane's row, as far as opening its connection goes. */
export interface SealedRow {
  readonly id: string;
  readonly kind: 'vendor' | 'customer' | 'agent';
  readonly tenant_id: string | null;
  readonly connection_sealed: string | null;
}

/**
 * The connection details sealed in `row`, or why they do not open: none stored, sealed for
 * another data plane or tenant (copied), altered, or their key gone. Never says anything of the
 * details themselves.
 */
export async function openConnection(
  db: Kysely<Schema>,
  secrets: SecretBox,
  row: SealedRow,
): Promise<Result<ConnectionDetails, string>> {
  if (row.connection_sealed === null) return err('it has no connection details (its agent reaches it)');
  if (row.kind === 'vendor') {
    try {
      return parseSealed(await secrets.open(vendorConnectionPurpose(row.id), row.connection_sealed));
    } catch (error) {
      if (error instanceof SecretUnreadableError) return err(error.message);
      throw error;
    }
  }
  if (row.tenant_id === null) return err('a customer data plane without a tenant');
  const dataKey = await existingTenantDataKey(db, secrets, row.tenant_id);
  if (!dataKey.ok) return dataKey;
  const plaintext = decryptValue(
    dataKey.value,
    customerConnectionBinding(row.tenant_id, row.id),
    row.connection_sealed,
  );
  if (plaintext === null)
    return err(
      'its sealed connection does not decrypt for this tenant and data plane: it was altered or copied from another row',
    );
  return parseSealed(plaintext);
}

function parseSealed(plaintext: string): Result<ConnectionDetails, string> {
  const value = JSON.parse(plaintext) as Partial<ConnectionDetails>;
  if (
    typeof value.host !== 'string' ||
    typeof value.port !== 'number' ||
    typeof value.database !== 'string' ||
    typeof value.user !== 'string' ||
    typeof value.password !== 'string' ||
    !(SSL_MODES as readonly unknown[]).includes(value.sslmode)
  )
    return err('its sealed connection is not connection details');
  return ok(value as ConnectionDetails);
}

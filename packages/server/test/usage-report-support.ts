import {
  type InstallPublicKey,
  reportDigest,
  signUsageReport,
  type UsageReportClaims,
  type UsageReportEvent,
  usageReportTotals,
} from '@tenantry/core';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/*
 * Helpers of the usage report tests: an install's own key, made as the SDK makes it at first start,
 * and the chain of reports it signs, as `tenantry usage export` writes them.
 */

/** An install's Ed25519 key pair. */
export interface InstallKey {
  readonly privateJwk: JWK;
  readonly publicKey: InstallPublicKey;
}

/** A fresh install key (jose's generateKeyPair('EdDSA')). */
export async function installKey(): Promise<InstallKey> {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  const { x } = await exportJWK(pair.publicKey);
  if (x === undefined) throw new Error('an Ed25519 public key without x');
  return { privateJwk: await exportJWK(pair.privateKey), publicKey: { kty: 'OKP', crv: 'Ed25519', x } };
}

/** Report claims with their totals computed from their events; `overrides` replace any member. */
export function reportClaims(
  base: {
    readonly install: InstallKey;
    readonly installId: string;
    readonly license: string;
    readonly seq: number;
    readonly previous: string | null;
    readonly from: string;
    readonly to: string;
    readonly events: readonly UsageReportEvent[];
  },
  overrides: Partial<UsageReportClaims> = {},
): UsageReportClaims {
  return {
    report_id: `rep-${base.installId}-${base.seq}`,
    install_id: base.installId,
    install_key: base.install.publicKey,
    license: base.license,
    seq: base.seq,
    previous: base.previous,
    period: { from: base.from, to: base.to },
    created_at: base.to,
    events: [...base.events],
    totals: usageReportTotals(base.events),
    ...overrides,
  };
}

/** Signs claims with the install's key; throws if the claims are not a valid report. */
export async function signReport(claims: UsageReportClaims, key: InstallKey): Promise<string> {
  const signed = await signUsageReport(claims, key);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

/** The reports one install writes, each chained to the one before: seq, previous digest, period. */
export class InstallChain {
  readonly installId: string;
  readonly install: InstallKey;
  readonly license: string;
  seq = 0;
  previous: string | null = null;
  to: string;

  constructor(options: { installId: string; install: InstallKey; license: string; from: string }) {
    this.installId = options.installId;
    this.install = options.install;
    this.license = options.license;
    this.to = options.from;
  }

  /** The claims of the next report, up to `to`, without moving the chain. */
  nextClaims(
    to: string,
    events: readonly UsageReportEvent[],
    overrides: Partial<UsageReportClaims> = {},
  ): UsageReportClaims {
    return reportClaims(
      {
        install: this.install,
        installId: this.installId,
        license: this.license,
        seq: this.seq + 1,
        previous: this.previous,
        from: this.to,
        to,
        events,
      },
      overrides,
    );
  }

  /** Signs the next report and moves the chain past it. */
  async next(to: string, events: readonly UsageReportEvent[]): Promise<string> {
    const token = await signReport(this.nextClaims(to, events), this.install);
    this.seq += 1;
    this.previous = await reportDigest(token);
    this.to = to;
    return token;
  }
}

import { z } from 'zod';
import { MAX_USAGE_REPORT_BYTES } from '../../usage-reports/index.ts';

/** `POST /v1/tenants/{id}/usage-reports`: a self-hosted install's signed report, for the tenant in the path. */
export const ImportTenantUsageReport = z.strictObject({
  report: z
    .string()
    .min(1)
    .max(MAX_USAGE_REPORT_BYTES)
    .describe('The report token (compact JWS, `typ` tenantry-usage-report+jwt)'),
});

/** `POST /v1/usage-reports`: as above, for whichever tenant the report's license names. */
export const ImportUsageReport = ImportTenantUsageReport.extend({
  tenant: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe("The tenant (id or slug) the report is expected from: refused if its license is another's"),
});

// `npm run generate:api`: writes what is generated from the control plane's OpenAPI document —
// @tenantry/core's API types and list of operations, and docs/api-contract.md. Run it after
// changing a route's schema.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from './document.ts';
import { apiContractMarkdown, apiOperations, apiTypes, GENERATED } from './generate.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const document = await openApiDocument();
await writeFile(root + GENERATED.types, await apiTypes(document));
await writeFile(root + GENERATED.operations, apiOperations(document));
await writeFile(root + GENERATED.contract, apiContractMarkdown(document));
console.warn(`wrote ${GENERATED.types}, ${GENERATED.operations} and ${GENERATED.contract}`);

// A CommonJS module of the same app: Node >= 22.12 require()s the ESM-only SDK.
const assert = require('node:assert/strict');
const sdk = require('@tenantry/sdk');
assert.equal(typeof require('@tenantry/sdk/fastify').fastifyTenantContext, 'function');
assert.equal(typeof sdk.Tenantry.open, 'function');
assert.equal(typeof sdk.createAccessTokenVerifier, 'function');
console.log('require ok');

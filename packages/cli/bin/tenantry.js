#!/usr/bin/env node
// The `tenantry` command. Installed from npm it runs the built CLI (dist/bin.js); in the Tenantry
// checkout, where npm starts Node with `--conditions=@tenantry/source` (.npmrc), it runs the
// TypeScript source, so the checkout needs no build. `#cli` is this package's private import.
import '#cli';

#!/usr/bin/env bash
# Checks the npm packages as they would be published: builds them, packs each with `npm pack`, and
# checks the tarballs, not the workspace:
#   - publint --strict;
#   - @arethetypeswrong/cli with the `esm-only` profile: the packages are ESM only (Node >= 22.12
#     `require()`s them), so the node10 and "CJS resolves to ESM" findings are the accepted ones;
#   - no TypeScript source other than declarations, and no tests, in any tarball;
#   - the built declarations type-check alone (skipLibCheck false, strict), under nodenext and under
#     bundler resolution, from the unpacked tarballs rather than the workspaces.
# Leaves the tarballs in $TENANTRY_PACK_DIR (default .ci/.work/packages) for the scratch-app test.
# Usage: npm run check:packages
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pack_dir=${TENANTRY_PACK_DIR:-$root/.ci/.work/packages}
packages=(packages/core packages/sdk packages/agent packages/server packages/cli)

# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh

say "build"
npm run build --silent

say "pack"
rm -rf "$pack_dir"
mkdir -p "$pack_dir"
for dir in "${packages[@]}"; do
  (cd "$dir" && npm pack --silent --pack-destination "$pack_dir" >/dev/null)
done
# shellcheck disable=SC2016 # JavaScript, whose template literals are not the shell's
node -e '
  const { readdirSync, statSync } = require("node:fs");
  for (const f of readdirSync(process.argv[1]).filter((f) => f.endsWith(".tgz")).sort()) {
    console.log(`${f.padEnd(28)} ${(statSync(`${process.argv[1]}/${f}`).size / 1024).toFixed(1).padStart(7)} KiB`);
  }
' "$pack_dir"

say "tarball contents: declarations and JavaScript only"
for tarball in "$pack_dir"/*.tgz; do
  bad=$(tar -tzf "$tarball" | grep -E '(\.ts$|\.test\.|/test/)' | grep -vE '\.d\.ts$' || true)
  if [ -n "$bad" ]; then
    echo "$(basename "$tarball") ships sources or tests:" >&2
    echo "$bad" >&2
    exit 1
  fi
done
echo "no .ts other than .d.ts, no tests"

say "publint --strict"
for tarball in "$pack_dir"/*.tgz; do npx publint --strict "$tarball" | tail -n 1; done

say "are the types wrong (esm-only profile)"
for tarball in "$pack_dir"/*.tgz; do npx attw --profile esm-only --format table-flipped --no-color "$tarball"; done

say "declarations type-check alone (nodenext and bundler, skipLibCheck false)"
# The unpacked tarballs sit in the check's own node_modules; their third-party dependencies' types
# resolve from the repository's node_modules above it, as they would from a consumer's.
check_dir="$root/.ci/.work/declarations"
rm -rf "$check_dir"
mkdir -p "$check_dir/node_modules/@tenantry"
for tarball in "$pack_dir"/*.tgz; do
  name=$(tar -xzOf "$tarball" package/package.json | node -e 'process.stdout.write(JSON.parse(require("node:fs").readFileSync(0, "utf8")).name)')
  mkdir -p "$check_dir/node_modules/$name"
  tar -xzf "$tarball" -C "$check_dir/node_modules/$name" --strip-components=1
done
cat >"$check_dir/package.json" <<'EOF'
{ "name": "declarations-check", "private": true, "type": "module" }
EOF
# Every public entry point, so every declaration they reach is checked.
cat >"$check_dir/index.ts" <<'EOF'
import * as core from '@tenantry/core';
import * as sdk from '@tenantry/sdk';
import * as express from '@tenantry/sdk/express';
import * as fastify from '@tenantry/sdk/fastify';
import * as agent from '@tenantry/agent';
import * as server from '@tenantry/server';
import * as cli from 'tenantry';

export const entryPoints = [core, sdk, express, fastify, agent, server, cli];
EOF
for resolution in nodenext bundler; do
  module=$([ "$resolution" = nodenext ] && echo nodenext || echo esnext)
  cat >"$check_dir/tsconfig.$resolution.json" <<EOF
{
  "compilerOptions": {
    "target": "es2022",
    "module": "$module",
    "moduleResolution": "$resolution",
    "strict": true,
    "skipLibCheck": false,
    "noEmit": true
  },
  "files": ["index.ts"]
}
EOF
  (cd "$check_dir" && "$root/node_modules/.bin/tsc" -p "tsconfig.$resolution.json")
  echo "$resolution: ok"
done

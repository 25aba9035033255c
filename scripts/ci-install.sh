#!/usr/bin/env bash
# CI step for install.sh, the one-command install on a VM:
#   1. shellcheck on install.sh and every script under scripts/ (installed from Debian when missing);
#   2. a scratch root standing in for a fresh Debian 12 VM: the shared debootstrap base
#      (scripts/lib/debian-rootfs.sh) with systemd installed but not running, as in a container;
#      no Node.js, no PostgreSQL, no curl. install.sh runs in it under chroot, with /proc and /dev
#      mounted (and unmounted on exit), on the machine's network;
#   3. in it: refusals (not root, systemd not running, port in use, Node.js too old, a Node.js
#      tarball that fails its checksum), each changing nothing; --dry-run changing nothing (a listing
#      of the whole root with modes, owners, sizes and times, before and after); the install (Node.js
#      downloaded from a local stand-in for nodejs.org/dist, the packed tarballs, PostgreSQL at
#      127.0.0.1:5432 through --database-url): /readyz, the printed key against the API, the secrets
#      file's mode and owner, the service's user; a re-run: same secrets, no key printed, no restart;
#      --uninstall: program gone, configuration, data and database kept; installing again finds
#      them; --uninstall --purge.
# Prints the install's time. Needs root (chroot, mounts, debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.ci/.work/install
vm=$work/rootfs
# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh
# shellcheck source=scripts/lib/debian-rootfs.sh
source scripts/lib/debian-rootfs.sh

passed=0
ok() {
  passed=$((passed + 1))
  echo "ok: $*"
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step_started=$(date +%s)

# --- 1. shellcheck --------------------------------------------------------------------------------
apt_install_missing shellcheck
say "shellcheck $(shellcheck --version | awk '/^version:/ { print $2 }')"
shellcheck install.sh scripts/*.sh scripts/lib/*.sh
ok "shellcheck install.sh scripts/*.sh scripts/lib/*.sh"

[ -f .ci/.work/packages/tenantry-0.1.0.tgz ] || bash scripts/check-packages.sh

# --- 2. the scratch VM ----------------------------------------------------------------------------
pg_base=${TENANTRY_CI_PG:-postgres://postgres@127.0.0.1:5432}
db="tenantry_install_$(date +%s)_$$"
db_password=$(openssl rand -hex 16)
db_url="postgres://$db:$db_password@127.0.0.1:5432/$db"
mirror_pid=
blocker_pid=
netns_pid=
# The processes started in the scratch root (the service, its PostgreSQL), by their root directory.
vm_processes() {
  local proc
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$vm" ] && echo "${proc#/proc/}"
  done
  return 0
}
cleanup() {
  set +e
  local pids
  pids=$(vm_processes)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # a list of pids
    kill $pids 2>/dev/null
    for _ in $(seq 1 100); do [ -n "$(vm_processes)" ] || break; sleep 0.1; done
    pids=$(vm_processes)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  fi
  for pid in $mirror_pid $blocker_pid $netns_pid; do kill "$pid" 2>/dev/null; done
  for mount in var/cache/ci-npm dev proc; do
    mountpoint -q "$vm/$mount" && umount "$vm/$mount"
  done
  psql "$pg_base/postgres" -qc "drop database if exists $db with (force)" -c "drop role if exists $db" >/dev/null 2>&1
}
trap cleanup EXIT

say "scratch root: Debian bookworm (debootstrap minbase) + systemd, not running"
started=$(date +%s)
debian_rootfs_extract "$vm"
mount -t proc proc "$vm/proc"
mount --bind /dev "$vm/dev"
# The host's npm cache is lent to the install's npm (not a part of the root: the listings skip it).
mkdir -p "$vm/var/cache/ci-npm" "${npm_config_cache:-$HOME/.npm}"
mount --bind "${npm_config_cache:-$HOME/.npm}" "$vm/var/cache/ci-npm"
vm_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
  npm_config_cache=/var/cache/ci-npm npm_config_prefer_offline=true)
# The machine's trust store goes in too, for the install's npm: where the registry is reached
# through a TLS-inspecting proxy, Node's own CA list would not do.
host_ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$host_ca" ]; then
  install -D -m 0644 "$host_ca" "$vm/usr/local/share/ci/host-ca.crt"
  vm_env+=(NODE_EXTRA_CA_CERTS=/usr/local/share/ci/host-ca.crt)
fi
in_vm() { chroot "$vm" /usr/bin/env -i "${vm_env[@]}" "$@"; }
in_vm apt-get install -y -qq --no-install-recommends systemd >"$work/apt-systemd.log" 2>&1 ||
  { tail -n 20 "$work/apt-systemd.log" >&2; fail "apt-get install systemd in the scratch root"; }
echo "scratch root ready in $(($(date +%s) - started))s ($(du -sh --exclude=proc --exclude=dev --exclude=var/cache/ci-npm "$vm" | cut -f1))"

# What the test brings in: the script, the packed packages and Node.js as nodejs.org ships it.
mkdir -p "$vm/srv/ci/packages"
cp install.sh "$vm/srv/ci/"
cp .ci/.work/packages/*.tgz "$vm/srv/ci/packages/"
package_args=()
for tarball in "$vm"/srv/ci/packages/*.tgz; do package_args+=(--package "/srv/ci/packages/${tarball##*/}"); done

# Node.js 24 in the layout of nodejs.org's linux tarballs (bin/node, bin/npm, lib/node_modules/npm),
# made from the npm registry's node-linux-<arch> and npm packages, as nodejs.org cannot be reached.
case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) fail "no Node.js package for $(uname -m)" ;; esac
node_work=$work/node
if [ ! -f "$node_work/mirror/latest-v24.x/SHASUMS256.txt" ]; then
  rm -rf "$node_work"
  mkdir -p "$node_work/npm" "$node_work/mirror/latest-v24.x"
  (cd "$node_work/npm" && npm pack --silent --prefer-offline "node-linux-$arch@24" npm@11 >/dev/null)
  tar -xzf "$node_work"/npm/node-linux-*.tgz -C "$node_work/npm" package/bin/node
  version=$("$node_work/npm/package/bin/node" -p process.versions.node)
  name=node-v$version-linux-$arch
  mkdir -p "$node_work/$name/bin" "$node_work/$name/lib/node_modules/npm"
  mv "$node_work/npm/package/bin/node" "$node_work/$name/bin/node"
  tar -xzf "$node_work"/npm/npm-*.tgz -C "$node_work/$name/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$node_work/$name/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$node_work/$name/bin/npx"
  tar -czf "$node_work/mirror/latest-v24.x/$name.tar.gz" -C "$node_work" "$name"
  (cd "$node_work/mirror/latest-v24.x" && sha256sum "$name.tar.gz" >SHASUMS256.txt)
  rm -rf "${node_work:?}/$name" "$node_work/npm"
fi
node_tarball=$(basename "$(ls "$node_work"/mirror/latest-v24.x/node-v*.tar.gz)")
mkdir -p "$vm/srv/ci/node" "$vm/srv/ci/node-bad" "$vm/srv/ci/node-old"
cp "$node_work/mirror/latest-v24.x/$node_tarball" "$node_work/mirror/latest-v24.x/SHASUMS256.txt" "$vm/srv/ci/node/"
cp "$node_work/mirror/latest-v24.x/$node_tarball" "$vm/srv/ci/node-bad/"
printf '%064d  %s\n' 0 "$node_tarball" >"$vm/srv/ci/node-bad/SHASUMS256.txt"
: >"$vm/srv/ci/node-old/node-v20.19.0-linux-$arch.tar.gz"

free_port() { node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# The stand-in for https://nodejs.org/dist, on the host's loopback (the chroot shares the network).
mirror_port=$(free_port)
# shellcheck disable=SC2016 # JavaScript
node -e '
  const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
  const root = process.argv[1];
  http.createServer((req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(req.url)));
    if (!file.startsWith(root + "/") || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  }).listen(Number(process.argv[2]), "127.0.0.1");
' "$node_work/mirror" "$mirror_port" &
mirror_pid=$!
vm_env+=(TENANTRY_NODE_MIRROR="http://127.0.0.1:$mirror_port")

psql "$pg_base/postgres" -qc "create role $db login nosuperuser createdb createrole password '$db_password'" \
  -c "create database $db owner $db"
port=$(free_port)
install_args=(--yes --no-systemd --port "$port" --database-url "$db_url" "${package_args[@]}")

# A listing of the whole root (type and mode, owner, size, change and modification times to the
# nanosecond), so any file written, removed or touched, even with the same content, shows.
listing() {
  find "$vm" \( -path "$vm/proc" -o -path "$vm/dev" -o -path "$vm/var/cache/ci-npm" \) -prune -o \
    -printf '%P %M %U:%G %s %T@ %C@\n' | sort >"$1"
}
same_listing() { # before after what
  diff -u "$1" "$2" >"$work/listing.diff" || { head -n 40 "$work/listing.diff" >&2; fail "$3 changed the root"; }
}
# Prefixes each line with the seconds since the command began, to show where an install's time goes.
timestamps() {
  local start=$EPOCHREALTIME line
  while IFS= read -r line; do
    printf '[%6.1fs] %s\n' "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$line"
  done
}
# run_install LOG args...: install.sh in the scratch root; its exit status, output in LOG.
run_install() {
  local log=$1
  shift
  set +e
  in_vm bash /srv/ci/install.sh "$@" 2>&1 | timestamps >"$log"
  local status=${PIPESTATUS[0]}
  set -e
  return "$status"
}
expect_refusal() { # what log pattern args...
  local what=$1 log=$work/$2.log pattern=$3
  shift 3
  if run_install "$log" "$@"; then cat "$log" >&2; fail "$what: exited 0"; fi
  grep -q -- "$pattern" "$log" || { cat "$log" >&2; fail "$what: no \"$pattern\" in its output"; }
  ok "$what: $(grep -m1 -o 'error: .*' "$log" | cut -c8-)"
}

# --- 3. refusals and the dry run: nothing changes -------------------------------------------------
say "refusals and --dry-run on the fresh root"
listing "$work/fresh.list"
set +e
chroot --userspec=65534:65534 "$vm" /usr/bin/env -i "${vm_env[@]}" bash /srv/ci/install.sh "${install_args[@]}" >"$work/nonroot.log" 2>&1
status=$?
set -e
if [ "$status" -eq 0 ] || ! grep -q 'must run as root' "$work/nonroot.log"; then cat "$work/nonroot.log" >&2; fail "run as nobody"; fi
ok "as a user other than root: refused ($(grep -m1 -o 'must run as root[^:]*' "$work/nonroot.log"))"
expect_refusal "without systemd and without --no-systemd" no-systemd 'systemd is not running' \
  --yes --port "$port" --database-url "$db_url" "${package_args[@]}"
# A port some other program listens on.
blocked_port=$(free_port)
node -e 'require("node:net").createServer().listen(Number(process.argv[1]), "127.0.0.1")' "$blocked_port" &
blocker_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$blocked_port") 2>/dev/null && break; sleep 0.1; done
expect_refusal "a port in use" port-taken "port $blocked_port is in use" \
  --yes --no-systemd --port "$blocked_port" --database-url "$db_url" "${package_args[@]}"
kill "$blocker_pid"
blocker_pid=
expect_refusal "a Node.js older than 22.12" node-old 'is too old' \
  "${install_args[@]}" --node-tarball "/srv/ci/node-old/node-v20.19.0-linux-$arch.tar.gz"
expect_refusal "a Node.js tarball that does not match its SHASUMS256.txt" node-bad 'does not match its checksum' \
  "${install_args[@]}" --node-tarball "/srv/ci/node-bad/$node_tarball"
expect_refusal "--port 0" bad-port 'must be a number from 1 to 65535' "${install_args[@]}" --port 0
run_install "$work/dry-run.log" "${install_args[@]}" --dry-run || { cat "$work/dry-run.log" >&2; fail "--dry-run"; }
if ! grep -q 'would install Node.js 24' "$work/dry-run.log" || ! grep -q 'Dry run: nothing was changed' "$work/dry-run.log"; then
  cat "$work/dry-run.log" >&2
  fail "--dry-run does not say what it would do"
fi
listing "$work/after-refusals.list"
same_listing "$work/fresh.list" "$work/after-refusals.list" "a refusal or --dry-run"
ok "--dry-run printed $(grep -c 'would ' "$work/dry-run.log") actions, and neither it nor the refusals changed any file of the root"

# --- 4. the install -------------------------------------------------------------------------------
say "install (Node.js from the nodejs.org stand-in, the packed tarballs, --database-url)"
started_ms=$(date +%s%3N)
run_install "$work/install.log" "${install_args[@]}" || { cat "$work/install.log" >&2; fail "install"; }
install_ms=$(($(date +%s%3N) - started_ms))
sed 's/TENANTRY_TOKEN=tnt_sk_.*/TENANTRY_TOKEN=tnt_sk_…(redacted in the CI log)/' "$work/install.log"
install_seconds=$(awk -v ms="$install_ms" 'BEGIN { printf "%.1f", ms / 1000 }')
echo "install took ${install_seconds}s (Node.js download and unpack, curl from apt, npm install from the lent cache, migrations, start)"
[ "$(grep -c 'TENANTRY_TOKEN=tnt_sk_' "$work/install.log")" -eq 1 ] || fail "the install printed the first key $(grep -c 'TENANTRY_TOKEN=tnt_sk_' "$work/install.log") times"
token=$(grep -o 'TENANTRY_TOKEN=tnt_sk_[0-9A-Za-z]*' "$work/install.log" | cut -d= -f2)
ok "the first operator key printed once"
curl -fsS "http://127.0.0.1:$port/readyz" | grep -q '"migrations":"current"' || fail "/readyz"
ok "/readyz: ready, migrations current"
curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/v1/tenants" >/dev/null || fail "GET /v1/tenants with the printed key"
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/tenants")
[ "$status" = 401 ] || fail "GET /v1/tenants without a key answered $status"
ok "GET /v1/tenants: 200 with the printed key, 401 without"
in_vm env TENANTRY_URL="http://127.0.0.1:$port" TENANTRY_TOKEN="$token" tenantry tenants list >/dev/null ||
  fail "the tenantry command in /usr/local/bin"
ok "the tenantry command (/usr/local/bin/tenantry) reaches the API with the key"
[ "$(in_vm stat -c '%a %U:%G' /etc/tenantry/tenantry.env)" = "640 root:tenantry" ] || fail "tenantry.env: $(in_vm stat -c '%a %U:%G' /etc/tenantry/tenantry.env)"
[ "$(in_vm stat -c '%a %U:%G' /etc/tenantry)" = "750 root:tenantry" ] || fail "/etc/tenantry: $(in_vm stat -c '%a %U:%G' /etc/tenantry)"
in_vm getent passwd tenantry | grep -q ':/usr/sbin/nologin$' || fail "the tenantry user has a login shell"
ok "/etc/tenantry/tenantry.env 640 root:tenantry in /etc/tenantry 750 root:tenantry; the user tenantry has no shell"
grep -q "TENANTRY_BOOTSTRAP_TOKEN=$token" "$vm/etc/tenantry/tenantry.env" || fail "the printed key is not the bootstrap token"
for key in TENANTRY_MASTER_KEY TENANTRY_BINDING_KEY DATABASE_URL TENANTRY_PUBLIC_URL; do
  grep -q "^$key=." "$vm/etc/tenantry/tenantry.env" || fail "tenantry.env has no $key"
done
pid=$(cat "$vm/run/tenantry/tenantry.pid")
[ "$(stat -c %u "/proc/$pid")" = "$(in_vm id -u tenantry)" ] || fail "the service runs as uid $(stat -c %u "/proc/$pid")"
ok "the service (pid $pid) runs as the user tenantry"
grep -q 'systemd-analyze verify: no problems' "$work/install.log" || fail "the unit was not verified"
exposure=$(in_vm systemd-analyze security --offline=true /etc/systemd/system/tenantry.service 2>/dev/null | grep -o 'Overall exposure level.*' || true)
ok "the unit passes systemd-analyze verify; systemd-analyze security: ${exposure:-n/a}"
env_sum=$(sha256sum <"$vm/etc/tenantry/tenantry.env")

# --- 5. idempotence -------------------------------------------------------------------------------
say "a second run"
started_ms=$(date +%s%3N)
run_install "$work/rerun.log" "${install_args[@]}" || { cat "$work/rerun.log" >&2; fail "re-run"; }
rerun_ms=$(($(date +%s%3N) - started_ms))
! grep -q 'TENANTRY_TOKEN=' "$work/rerun.log" || fail "the re-run printed a key"
grep -q 'not shown again' "$work/rerun.log" || fail "the re-run does not say the key is not shown again"
[ "$(sha256sum <"$vm/etc/tenantry/tenantry.env")" = "$env_sum" ] || fail "the re-run changed tenantry.env"
[ "$(cat "$vm/run/tenantry/tenantry.pid")" = "$pid" ] || fail "the re-run restarted the service with nothing changed"
ok "re-run in ${rerun_ms} ms: same secrets, no key printed, service not restarted"
listing "$work/installed.list"
run_install "$work/dry-run-installed.log" "${install_args[@]}" --dry-run || { cat "$work/dry-run-installed.log" >&2; fail "--dry-run installed"; }
listing "$work/installed-after.list"
same_listing "$work/installed.list" "$work/installed-after.list" "--dry-run on the installed root"
# It would still run `tenantry migrate` (a newer program may bring migrations) and check /readyz.
if grep 'would ' "$work/dry-run-installed.log" | grep -qv -e 'would run tenantry migrate' -e 'would wait for'; then
  cat "$work/dry-run-installed.log" >&2
  fail "--dry-run on the installed root would change something"
fi
ok "--dry-run on the installed root: everything up to date, nothing changed"
secrets() { grep -E '^(TENANTRY_MASTER_KEY|TENANTRY_BOOTSTRAP_TOKEN|TENANTRY_BINDING_KEY|DATABASE_URL)=' "$vm/etc/tenantry/tenantry.env"; }
secrets_before=$(secrets)
old_port=$port
port=$(free_port)
install_args=(--yes --no-systemd --port "$port" --database-url "$db_url" "${package_args[@]}")
run_install "$work/port-change.log" "${install_args[@]}" || { cat "$work/port-change.log" >&2; fail "re-run with another --port"; }
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "/readyz on the new port"
! curl -fsS "http://127.0.0.1:$old_port/readyz" >/dev/null 2>&1 || fail "still listening on the old port"
[ "$(secrets)" = "$secrets_before" ] || fail "changing the port changed the secrets"
grep -q "^TENANTRY_PUBLIC_URL=http://.*:$port$" "$vm/etc/tenantry/tenantry.env" || fail "the public URL did not follow the port"
[ "$(cat "$vm/run/tenantry/tenantry.pid")" != "$pid" ] || fail "the service was not restarted"
pid=$(cat "$vm/run/tenantry/tenantry.pid")
env_sum=$(sha256sum <"$vm/etc/tenantry/tenantry.env")
ok "re-run with another --port: restarted on it, public URL follows, secrets kept"

# --- 6. uninstall, install again, purge -----------------------------------------------------------
say "--uninstall"
run_install "$work/uninstall.log" --uninstall --yes || { cat "$work/uninstall.log" >&2; fail "--uninstall"; }
for gone in /opt/tenantry /etc/systemd/system/tenantry.service /usr/local/bin/tenantry; do
  [ ! -e "$vm$gone" ] || fail "--uninstall left $gone"
done
! kill -0 "$pid" 2>/dev/null || fail "--uninstall left the service running"
[ "$(sha256sum <"$vm/etc/tenantry/tenantry.env")" = "$env_sum" ] || fail "--uninstall changed tenantry.env"
[ -d "$vm/var/lib/tenantry" ] || fail "--uninstall removed /var/lib/tenantry"
keys=$(psql "$db_url" -tAc 'select count(*) from tenantry.api_keys')
[ "$keys" -ge 1 ] || fail "--uninstall emptied the database"
ok "--uninstall: program, unit and command gone, service stopped; configuration, data and database ($keys key) kept"

say "install again, Node.js from --node-tarball"
run_install "$work/reinstall.log" "${install_args[@]}" --node-tarball "/srv/ci/node/$node_tarball" ||
  { cat "$work/reinstall.log" >&2; fail "install after --uninstall"; }
grep -q "checked $node_tarball against /srv/ci/node/SHASUMS256.txt" "$work/reinstall.log" || fail "--node-tarball was not checked against SHASUMS256.txt"
! grep -q 'TENANTRY_TOKEN=' "$work/reinstall.log" || fail "installing again printed a key"
[ "$(sha256sum <"$vm/etc/tenantry/tenantry.env")" = "$env_sum" ] || fail "installing again changed tenantry.env"
curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/v1/tenants" >/dev/null || fail "the first key after installing again"
ok "installing again: the kept secrets and database, the first key still works, none printed"

say "--uninstall --purge"
run_install "$work/purge.log" --uninstall --purge --yes || { cat "$work/purge.log" >&2; fail "--purge"; }
for gone in /opt/tenantry /etc/tenantry /var/lib/tenantry /var/log/tenantry /run/tenantry; do
  [ ! -e "$vm$gone" ] || fail "--purge left $gone"
done
! in_vm getent passwd tenantry >/dev/null || fail "--purge left the user tenantry"
psql "$db_url" -tAc 'select 1' >/dev/null || fail "--purge dropped a database it did not make"
ok "--purge: configuration, data, logs and user gone; the database given with --database-url left alone"
run_install "$work/purge-again.log" --uninstall --purge --yes || fail "a second --uninstall"
grep -q 'not installed' "$work/purge-again.log" || fail "a second --uninstall does not say there is nothing to do"
ok "a second --uninstall: nothing to do"

# --- 7. the local PostgreSQL, installed from apt --------------------------------------------------
# In a network namespace of its own, whose loopback is free: the scratch root's cluster takes port
# 5432, which the machine's PostgreSQL holds on the shared network. The namespace has no way out,
# so this is also the air-gapped case: PostgreSQL's packages fetched beforehand into apt's cache (as
# an offline apt mirror would hold them), npm offline from the cache the first install filled,
# Node.js from --node-tarball.
say "install with the local PostgreSQL from apt, offline, in a network namespace"
started=$(date +%s)
in_vm apt-get install --download-only -y -qq --no-install-recommends postgresql >"$work/apt-download.log" 2>&1 ||
  { tail -n 20 "$work/apt-download.log" >&2; fail "apt-get install --download-only postgresql"; }
echo "PostgreSQL's packages downloaded in $(($(date +%s) - started))s"
unshare --net sleep infinity &
netns_pid=$!
sleep 0.2
in_netns() { nsenter --net="/proc/$netns_pid/ns/net" "$@"; }
in_netns ip link set lo up
offline_args=(--yes --no-systemd --port 8080 "${package_args[@]}" --node-tarball "/srv/ci/node/$node_tarball")
run_local() { # log args...: install.sh in the namespace, npm offline
  local log=$1
  shift
  set +e
  in_netns chroot "$vm" /usr/bin/env -i "${vm_env[@]}" npm_config_offline=true bash /srv/ci/install.sh "$@" 2>&1 | timestamps >"$log"
  local status=${PIPESTATUS[0]}
  set -e
  return "$status"
}
started_ms=$(date +%s%3N)
run_local "$work/local-install.log" "${offline_args[@]}" || { cat "$work/local-install.log" >&2; fail "install with the local PostgreSQL"; }
local_ms=$(($(date +%s%3N) - started_ms))
local_seconds=$(awk -v ms="$local_ms" 'BEGIN { printf "%.1f", ms / 1000 }')
sed 's/TENANTRY_TOKEN=tnt_sk_.*/TENANTRY_TOKEN=tnt_sk_…(redacted in the CI log)/' "$work/local-install.log"
echo "install with PostgreSQL from apt took ${local_seconds}s"
local_token=$(grep -o 'TENANTRY_TOKEN=tnt_sk_[0-9A-Za-z]*' "$work/local-install.log" | cut -d= -f2)
[ -n "$local_token" ] || fail "no first key printed"
in_netns curl -fsS -H "authorization: Bearer $local_token" http://127.0.0.1:8080/v1/tenants >/dev/null || fail "GET /v1/tenants (local PostgreSQL)"
role=$(in_vm runuser -u postgres -- psql -X -tAc "select rolsuper, rolcreatedb, rolcreaterole, rolbypassrls from pg_roles where rolname = 'tenantry'")
[ "$role" = "f|t|t|f" ] || fail "the role tenantry (superuser, createdb, createrole, bypassrls): $role"
grep -q '^DATABASE_URL=postgres://tenantry:[0-9a-f]\{48\}@127.0.0.1:5432/tenantry$' "$vm/etc/tenantry/tenantry.env" || fail "DATABASE_URL for the local cluster"
ok "PostgreSQL installed and started, role tenantry (not superuser nor BYPASSRLS; CREATEDB, CREATEROLE) with a generated password, its database; the key works"
env_sum=$(sha256sum <"$vm/etc/tenantry/tenantry.env")
run_local "$work/local-rerun.log" "${offline_args[@]}" || { cat "$work/local-rerun.log" >&2; fail "re-run with the local PostgreSQL"; }
! grep -q 'TENANTRY_TOKEN=' "$work/local-rerun.log" || fail "the re-run printed a key"
[ "$(sha256sum <"$vm/etc/tenantry/tenantry.env")" = "$env_sum" ] || fail "the re-run changed tenantry.env (the role's password?)"
grep -q 'the role tenantry exists' "$work/local-rerun.log" || fail "the re-run did not find the role"
ok "re-run: the cluster, role, password and secrets kept, no key printed"
run_local "$work/local-purge.log" --uninstall --purge --yes || { cat "$work/local-purge.log" >&2; fail "--purge with the local PostgreSQL"; }
left=$(in_vm runuser -u postgres -- psql -X -tAc "select count(*) from pg_roles where rolname = 'tenantry'")
[ "$left" = 0 ] || fail "--purge left the role tenantry"
! in_vm runuser -u postgres -- psql -X -tAc 'select 1' -d tenantry >/dev/null 2>&1 || fail "--purge left the database tenantry"
ok "--purge: the database and role the installer made are dropped; PostgreSQL itself stays"
in_vm pg_ctlcluster "$(ls "$vm/etc/postgresql")" main stop

cleanup
trap - EXIT
debian_rootfs_unmounted "$vm" && rm -rf "$vm"
echo
echo "install.sh checks: $passed passed, 0 failed (install ${install_seconds}s, with PostgreSQL from apt ${local_seconds}s, re-run ${rerun_ms} ms; this step $(($(date +%s) - step_started))s)"

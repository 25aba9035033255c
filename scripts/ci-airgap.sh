#!/usr/bin/env bash
# CI step for the air-gap bundle (docs/airgap.md):
#   1. `tenantry bundle keygen` makes a release key; `tenantry bundle build` bundles the packed npm
#      tarballs (scripts/check-packages.sh), their production dependencies, Node.js 24, the
#      migrations, the Helm chart and the compose file, with the signed manifest;
#   2. the bundle is unpacked into a fresh directory and, in a network namespace with only `lo` up
#      (no route anywhere), its install.sh verifies it, installs it offline and starts Tenantry on
#      the embedded PGlite: /readyz, and an API call with the operator key it prints;
#   3. three tampered copies (one byte of one file changed, a file added that the manifest does not
#      list, the manifest re-signed by another key) are each refused, naming the file, with
#      nothing installed.
# When the image scripts/ci-container.sh builds is in buildah's storage (it runs before this step
# in .ci/run), it goes into the bundle as a docker-archive, and is loaded from the bundle inside the
# namespace into a scratch storage, as an operator would `docker load` it.
# Prints the bundle's size and the time to build, verify, and install to ready.
# Needs root (ip netns; buildah's storage).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.ci/.work/airgap
# shellcheck source=scripts/lib/ci.sh
source scripts/lib/ci.sh
# The project's Node (the `node` devDependency): the machine's may be older than the CLI needs.
export PATH=$root/node_modules/.bin:$PATH
tenantry() { node "$root/packages/cli/bin/tenantry.js" "$@"; }
bah() { buildah --storage-driver vfs "$@"; }
image=localhost/tenantry:ci

step_started=$(date +%s)
passed=0
ok() { passed=$((passed + 1)); printf '  ok  %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*" >&2; exit 1; }
millis() { date +%s%3N; }
seconds_since() { awk -v ms="$(($(millis) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }

apt_install_missing shellcheck
shellcheck -x deploy/airgap/install.sh scripts/ci-airgap.sh
[ -f .ci/.work/packages/tenantry-0.1.0.tgz ] || bash scripts/check-packages.sh

netns=tenantry-airgap-$$
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  ip netns del "$netns" 2>/dev/null || true
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"

# --- 1. build ------------------------------------------------------------------------------------
say "tenantry bundle keygen, tenantry bundle build"
tenantry bundle keygen --out "$work/release.key" >"$work/keygen.log"
fingerprint=$(sed -n 's/^fingerprint (SHA-256 of the DER public key): //p' "$work/keygen.log")
[ "$(stat -c %a "$work/release.key")" = 600 ] || fail "the private key is not 0600"
ok "release key made (private 0600), public key fingerprint $fingerprint"
tenantry bundle keygen --out "$work/attacker.key" >/dev/null
image_args=()
if command -v buildah >/dev/null && bah inspect --type image "$image" >/dev/null 2>&1; then
  started=$(millis)
  bah push --quiet "$image" "docker-archive:$work/tenantry-image.tar:tenantry:0.1.0"
  image_args=(--image-archive "$work/tenantry-image.tar")
  ok "image $image written as a docker-archive in $(seconds_since "$started")s: $(du -h "$work/tenantry-image.tar" | cut -f1)"
else
  echo "  (no $image in buildah's storage, which scripts/ci-container.sh builds: the bundle goes without the image)"
fi
started=$(millis)
tenantry bundle build --out "$work/tenantry-bundle.tgz" --signing-key "$work/release.key" \
  --packages .ci/.work/packages "${image_args[@]}" | tee "$work/build.log"
build_seconds=$(seconds_since "$started")
bundle_size=$(du -h "$work/tenantry-bundle.tgz" | cut -f1)
ok "bundle built in ${build_seconds}s: $bundle_size"

# --- 2. verify, install and start with no network -------------------------------------------------
say "unpack into a fresh directory; verify, install and start in a network namespace with no network"
mkdir "$work/fresh"
tar -xzf "$work/tenantry-bundle.tgz" -C "$work/fresh"
bundle=$(find "$work/fresh" -mindepth 1 -maxdepth 1 -type d)
unpacked_size=$(du -sh "$bundle" | cut -f1)
files=$(find "$bundle" -type f | wc -l)
ip netns add "$netns"
ip -n "$netns" link set lo up
in_netns() { ip netns exec "$netns" "$@"; }
links=$(in_netns ip -o link show | awk -F': ' '{ print $2 }' | tr '\n' ' ')
[ "$links" = "lo " ] || fail "the namespace has links other than lo: $links"
if [ -n "$(in_netns ip route show)" ] || [ -n "$(in_netns ip -6 route show | grep -v '^::1 ' || true)" ]; then
  fail "the namespace has a route out"
fi
if in_netns node -e 'fetch("https://registry.npmjs.org/", { signal: AbortSignal.timeout(5000) }).then(() => process.exit(0), () => process.exit(1))'; then
  fail "the namespace reaches the npm registry"
fi
ok "namespace $netns: only lo, no route, the npm registry unreachable"

started=$(millis)
in_netns bash "$bundle/install.sh" --public-key "$work/release.key.pub" --verify-only >"$work/verify.log" 2>&1 ||
  { cat "$work/verify.log" >&2; fail "--verify-only"; }
verify_seconds=$(seconds_since "$started")
grep -q "signed by $fingerprint" "$work/verify.log" || fail "--verify-only does not name the key"
ok "--verify-only in ${verify_seconds}s: $(grep -o 'Verified .*' "$work/verify.log")"

install_root=$work/root
install_args=(--public-key "$work/release.key.pub" --prefix "$install_root/opt/tenantry"
  --data-dir "$install_root/var/lib/tenantry" --port 8080)
started=$(millis)
in_netns bash "$bundle/install.sh" "${install_args[@]}" 2>&1 | tee "$work/install.log" |
  sed 's/TENANTRY_TOKEN=tnt_sk_.*/TENANTRY_TOKEN=tnt_sk_…(redacted in the CI log)/' || fail "install"
install_seconds=$(seconds_since "$started")
server_pid=$(cat "$install_root/var/lib/tenantry/tenantry.pid")
in_netns curl -fsS http://127.0.0.1:8080/readyz | grep -q '"migrations":"current"' || fail "/readyz"
ok "installed and ready in ${install_seconds}s (verify, Node.js, npm ci --offline, start, migrations, /readyz)"
token=$(grep -m 1 -o 'TENANTRY_TOKEN=tnt_sk_[0-9A-Za-z]*' "$work/install.log" | cut -d= -f2)
[ -n "$token" ] || fail "no first operator key printed"
in_netns curl -fsS -H "authorization: Bearer $token" http://127.0.0.1:8080/v1/tenants >/dev/null || fail "GET /v1/tenants"
in_netns env TENANTRY_URL=http://127.0.0.1:8080 TENANTRY_TOKEN="$token" \
  "$install_root/opt/tenantry/bin/tenantry" tenants list >/dev/null || fail "the installed tenantry command"
ok "GET /v1/tenants with the printed key, and the installed tenantry command, answer"
in_netns bash "$bundle/install.sh" --public-key "$work/release.key.pub" --verify-only >/dev/null 2>&1 ||
  fail "the bundle no longer verifies after the install: the install wrote into it"
ok "the bundle is unchanged by the install (it still verifies)"
kill -TERM "$server_pid"
for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
! kill -0 "$server_pid" 2>/dev/null || fail "tenantry serve did not stop on SIGTERM"
server_pid=
if [ ${#image_args[@]} -gt 0 ]; then
  store=$work/image-store
  in_netns buildah --storage-driver vfs --root "$store/root" --runroot "$store/run" pull --quiet \
    "docker-archive:$bundle/image/tenantry-image.tar" >/dev/null || fail "loading the image from the bundle"
  user=$(buildah --storage-driver vfs --root "$store/root" --runroot "$store/run" inspect --type image \
    --format '{{.Docker.Config.User}}' tenantry:0.1.0) || fail "the loaded image is not tagged tenantry:0.1.0"
  [ "${user%%:*}" = 10001 ] || fail "the loaded image runs as \"$user\", not 10001"
  buildah --storage-driver vfs --root "$store/root" --runroot "$store/run" rmi --all >/dev/null
  rm -rf "$store"
  ok "the image loads from the bundle with no network: tenantry:0.1.0, user $user"
fi

# --- 3. tampered bundles are refused, nothing installed -------------------------------------------
say "tampered copies: refused, naming the file, nothing installed"
# expect_refused NAME FILE: install.sh on the copy in $work/NAME refuses, naming FILE.
expect_refused() {
  local name=$1 file=$2 copy=$work/$1 target=$work/$1-root status
  set +e
  in_netns bash "$copy/install.sh" --public-key "$work/release.key.pub" --prefix "$target/opt/tenantry" \
    --data-dir "$target/var/lib/tenantry" --port 8081 >"$work/$name.log" 2>&1
  status=$?
  set -e
  [ "$status" -eq 1 ] || { cat "$work/$name.log" >&2; fail "$name: exited $status"; }
  grep -q "install.sh: refused: $file: " "$work/$name.log" || { cat "$work/$name.log" >&2; fail "$name: does not name $file"; }
  [ ! -e "$target" ] || fail "$name: something was installed in $target"
  ok "$name: $(grep -o 'refused: .*' "$work/$name.log")"
}
tamper_copy() { cp -a "$bundle" "$work/$1"; }

tamper_copy one-byte
target=packages/tenantry-server-0.1.0.tgz
offset=$(($(stat -c %s "$work/one-byte/$target") / 2))
byte=$(od -An -tu1 -j "$offset" -N 1 "$work/one-byte/$target" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the byte, as an octal escape
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$work/one-byte/$target" bs=1 seek="$offset" conv=notrunc status=none
cmp -s "$bundle/$target" "$work/one-byte/$target" && fail "the byte was not changed"
expect_refused one-byte "$target"

tamper_copy unlisted-file
printf 'console.log("not from the vendor")\n' >"$work/unlisted-file/packages/extra.js"
expect_refused unlisted-file packages/extra.js

tamper_copy other-key
openssl pkeyutl -sign -inkey "$work/attacker.key" -rawin -in "$work/other-key/manifest.json" -out "$work/other-key/manifest.json.sig"
expect_refused other-key manifest.json

# The unpacked trees and the tampered copies are 4 × the bundle: only the bundle and logs stay.
rm -rf "$work/fresh" "$work/root" "$work/one-byte" "$work/unlisted-file" "$work/other-key" "$work/tenantry-image.tar"
echo
echo "air-gap bundle checks: $passed passed, 0 failed (bundle $bundle_size compressed, $unpacked_size unpacked, $files files;" \
  "build ${build_seconds}s, verify ${verify_seconds}s, install to /readyz ${install_seconds}s; this step $(($(date +%s) - step_started))s)"

#!/usr/bin/env bash
# Installs Tenantry from an air-gap bundle (`tenantry bundle build`, docs/airgap.md), with no
# network at all:
#
#   bash install.sh --public-key vendor-release.pub                     # verify, install, start
#   bash install.sh --public-key vendor-release.pub --verify-only       # verify only
#   bash install.sh --public-key K --prefix DIR --data-dir DIR --port N [--database-url URL]
#
# 1. Verifies the bundle before it installs anything: the Ed25519 signature of manifest.json
#    against the public key the operator gives (never one shipped in the bundle: whoever swaps the
#    manifest swaps a bundled key too), then every listed file's size and SHA-256, and refuses a
#    file the manifest does not list, a symbolic link, or a listed path that is not a plain path
#    inside the bundle. It uses openssl and sha256sum, not the bundled Node.js, which is run only
#    once its digest has been checked. Any failure names the file and stops: nothing is installed.
# 2. Installs, into a staging directory that replaces --prefix only when complete: Node.js from
#    the bundled tarball, then the release's npm tarballs with `npm ci --offline` from the bundled
#    npm cache and lockfile, and the command PREFIX/bin/tenantry.
# 3. Starts `tenantry serve` in the background (embedded PGlite in --data-dir, or --database-url),
#    which applies the migrations, and waits for /readyz. --no-start skips it.
set -euo pipefail

bundle_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly bundle_dir
readonly FORMAT=tenantry-airgap-bundle/1

public_key=
verify_only=
start=1
prefix=/opt/tenantry
data_dir=/var/lib/tenantry
port=8080
host=127.0.0.1
database_url=

usage() {
  cat <<EOF
Usage: bash install.sh --public-key FILE [options]

Verifies this Tenantry air-gap bundle against the vendor's release public key, then installs and
starts Tenantry without any network (see the top of this file and docs/airgap.md).

Options:
  --public-key FILE     the vendor's Ed25519 release public key (PEM), obtained separately from the
                        bundle; its SHA-256 fingerprint is printed to compare with the published one
  --verify-only         verify the bundle and stop
  --prefix DIR          where the program goes (default $prefix)
  --data-dir DIR        the data directory: embedded database, master key, log (default $data_dir)
  --port N              the port the API listens on (default $port)
  --host ADDR           the address it listens on (default $host)
  --database-url URL    use this PostgreSQL 15+ instead of the embedded database (env DATABASE_URL)
  --no-start            install only
  -h, --help            this help
EOF
}

usage_error() {
  printf 'install.sh: error: %s\n' "$1" >&2
  printf 'Run "bash install.sh --help" for the options.\n' >&2
  exit 2
}
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case $1 in
  --public-key) need_value "$@"; public_key=$2; shift ;;
  --verify-only) verify_only=1 ;;
  --prefix) need_value "$@"; prefix=$2; shift ;;
  --data-dir) need_value "$@"; data_dir=$2; shift ;;
  --port) need_value "$@"; port=$2; shift ;;
  --host) need_value "$@"; host=$2; shift ;;
  --database-url) need_value "$@"; database_url=$2; shift ;;
  --no-start) start= ;;
  -h | --help) usage; exit 0 ;;
  *) usage_error "unknown option: $1" ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}
# Seconds since the mark $1 (milliseconds from `date +%s%3N`), for the timings printed.
now_ms() { date +%s%3N; }
since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
# A verification failure: names the file, and nothing has been installed yet.
refuse() {
  printf 'install.sh: refused: %s: %s\n' "$1" "$2" >&2
  printf 'The bundle did not verify: nothing was installed.\n' >&2
  exit 1
}

[ -n "$public_key" ] || usage_error "--public-key is required: the vendor's release public key, obtained apart from the bundle"
[ -f "$public_key" ] || usage_error "--public-key $public_key: no such file"
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  usage_error "--port must be a number from 1 to 65535, not \"$port\""
fi
case $prefix in /*) ;; *) usage_error "--prefix must be an absolute path, not \"$prefix\"" ;; esac
case $data_dir in /*) ;; *) usage_error "--data-dir must be an absolute path, not \"$data_dir\"" ;; esac
# `serve` inherits this environment: a DATABASE_URL exported here counts as given.
database_url=${database_url:-${DATABASE_URL:-}}
if [ -n "$database_url" ] && ! [[ $database_url =~ ^postgres(ql)?:// ]]; then
  usage_error "--database-url must be a postgres:// or postgresql:// URL"
fi
for tool in openssl sha256sum find tar; do
  command -v "$tool" >/dev/null || die "$tool is needed to verify and unpack the bundle, and is not on the PATH"
done

# --- 1. verification -----------------------------------------------------------------------------
work=$(mktemp -d)
staging=
cleanup() {
  rm -rf "$work"
  if [ -n "$staging" ]; then rm -rf "$staging"; fi
}
trap cleanup EXIT

say "Verifying the bundle in $bundle_dir"
mark=$(now_ms)
key_text=$(openssl pkey -pubin -in "$public_key" -noout -text 2>/dev/null || true)
[[ $key_text == 'ED25519 Public-Key'* ]] ||
  usage_error "--public-key $public_key is not an Ed25519 public key in PEM (tenantry bundle keygen writes one)"
fingerprint=$(openssl pkey -pubin -in "$public_key" -outform DER | sha256sum | cut -d' ' -f1)
info "public key $public_key, SHA-256 fingerprint $fingerprint"

manifest=$bundle_dir/manifest.json
if [ ! -f "$manifest" ] || [ -L "$manifest" ]; then refuse manifest.json "missing (or not a regular file)"; fi
if [ ! -f "$manifest.sig" ] || [ -L "$manifest.sig" ]; then refuse manifest.json.sig "missing (or not a regular file)"; fi
openssl pkeyutl -verify -pubin -inkey "$public_key" -rawin -in "$manifest" -sigfile "$manifest.sig" >/dev/null 2>&1 ||
  refuse manifest.json "its signature (manifest.json.sig) does not verify against the public key $fingerprint: the manifest was changed, or signed by another key"
info "manifest.json: signature verified"

# The manifest is signed, so it was written by `tenantry bundle build`, one file to a line; it is
# still read strictly: a line of any other shape is refused rather than guessed at.
declare -A listed=()
version='' created_at='' node_version='' format='' in_files='' files_ended=''
checklist=$work/sha256
: >"$checklist"
line_no=0
path_part='[A-Za-z0-9._@+-]+'
file_line='^    \{"path":"([^"\\]*)","size":(0|[1-9][0-9]{0,15}),"sha256":"([0-9a-f]{64})"\},?$'
field_line='^  "(format|version|created_at|node)": "([0-9A-Za-z.:+/_-]+)",?$'
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if [ -n "$in_files" ]; then
    if [[ $line =~ $file_line ]]; then
      path=${BASH_REMATCH[1]} size=${BASH_REMATCH[2]} digest=${BASH_REMATCH[3]}
      [[ $path =~ ^$path_part(/$path_part)*$ ]] || refuse "$path" "listed in the manifest, but not a relative path inside the bundle"
      case /$path/ in */../* | */./*) refuse "$path" "listed in the manifest, but escapes the bundle directory" ;; esac
      case $path in manifest.json | manifest.json.sig) refuse "$path" "the manifest may not list itself or its signature" ;; esac
      [ -z "${listed[$path]:-}" ] || refuse "$path" "listed twice in the manifest"
      listed[$path]=$size
      printf '%s  %s\n' "$digest" "$path" >>"$checklist"
      continue
    fi
    if [ "$line" = '  ]' ]; then in_files='' files_ended=1; continue; fi
  else
    case $line in
    '{' | '}') continue ;;
    '  "files": [') [ -z "$files_ended" ] && { in_files=1; continue; } ;;
    esac
    if [[ $line =~ $field_line ]]; then
      case ${BASH_REMATCH[1]} in
      format) format=${BASH_REMATCH[2]} ;;
      version) version=${BASH_REMATCH[2]} ;;
      created_at) created_at=${BASH_REMATCH[2]} ;;
      node) node_version=${BASH_REMATCH[2]} ;;
      esac
      continue
    fi
  fi
  refuse manifest.json "line $line_no is not in the bundle manifest's format"
done <"$manifest"
[ "$format" = "$FORMAT" ] || refuse manifest.json "format \"$format\", this installer reads $FORMAT"
if [ -z "$files_ended" ] || [ -z "$version" ] || [ -z "$created_at" ] || [ -z "$node_version" ]; then
  refuse manifest.json "incomplete: it needs format, version, created_at, node and files"
fi
[[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || refuse manifest.json "node \"$node_version\" is not a Node.js version"

# Every entry of the bundle: a directory, or a regular file the manifest lists.
while IFS= read -r -d '' entry; do
  refuse "$entry" "not a regular file or directory (a symbolic link?): the manifest lists only files"
done < <(find "$bundle_dir" -mindepth 1 ! -type d ! -type f -printf '%P\0')
declare -A present=()
while IFS=$'\t' read -r -d '' entry size; do
  case $entry in manifest.json | manifest.json.sig) continue ;; esac
  [ -n "${listed[$entry]:-}" ] || refuse "$entry" "in the bundle but not listed in the manifest"
  [ "$size" = "${listed[$entry]}" ] || refuse "$entry" "its size is $size bytes, the manifest says ${listed[$entry]}"
  present[$entry]=1
done < <(find "$bundle_dir" -mindepth 1 -type f -printf '%P\t%s\0')
for path in "${!listed[@]}"; do
  [ -n "${present[$path]:-}" ] || refuse "$path" "listed in the manifest but missing from the bundle"
done
if ! (cd "$bundle_dir" && sha256sum --check --quiet --strict "$checklist" >"$work/sha256.out" 2>/dev/null); then
  bad=$(sed -n 's/: FAILED.*$//p' "$work/sha256.out" | head -n 1)
  refuse "${bad:-a listed file}" "its SHA-256 digest is not the one in the manifest"
fi
say "Verified Tenantry $version (bundle made $created_at): ${#listed[@]} files, signed by $fingerprint, in $(since "$mark")"
if [ -n "$verify_only" ]; then exit 0; fi

# --- 2. install ----------------------------------------------------------------------------------
node_tarball=runtime/node-v$node_version-linux-x64.tar.gz
[ -n "${listed[$node_tarball]:-}" ] || die "the bundle holds no $node_tarball"
case $(uname -m) in x86_64) ;; *) die "this bundle's Node.js is for x86_64 Linux; this machine is $(uname -m)" ;; esac
if [ -e "$prefix" ] && [ ! -f "$prefix/.tenantry-bundle" ]; then
  die "$prefix exists and was not installed from a bundle: not replacing it" "Choose another --prefix, or move it away."
fi

say "Installing Tenantry $version into $prefix"
mark=$(now_ms)
mkdir -p "$(dirname "$prefix")" 2>/dev/null || true
[ -w "$(dirname "$prefix")" ] || die "cannot write to $(dirname "$prefix"): run as root, or choose --prefix and --data-dir you can write to"
staging=$(mktemp -d "$prefix.new.XXXXXX")
# mktemp's 0700 would keep a service user other than root from running the program.
chmod 0755 "$staging"
mkdir "$staging/node"
tar -xzf "$bundle_dir/$node_tarball" -C "$staging/node" --strip-components=1 --no-same-owner
node=$staging/node/bin/node
[ "$("$node" -p process.versions.node)" = "$node_version" ] || die "the bundled Node.js is not $node_version"
info "Node.js $node_version"
cp -R "$bundle_dir/app" "$bundle_dir/packages" "$staging/"
# npm writes to its cache: a copy, so the bundle stays as it was signed.
cp -R "$bundle_dir/npm-cache" "$work/npm-cache"
# Only the bundle's settings: a user or global npmrc here (a registry, a proxy) has no say.
: >"$work/user-npmrc"
: >"$work/global-npmrc"
if ! (cd "$staging/app" && PATH="$staging/node/bin:$PATH" "$node" "$staging/node/lib/node_modules/npm/bin/npm-cli.js" ci \
  --offline --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier \
  --cache "$work/npm-cache" --userconfig "$work/user-npmrc" --globalconfig "$work/global-npmrc" >"$work/npm.log" 2>&1); then
  die "npm ci --offline failed (nothing was installed in $prefix):" "$(tail -n 15 "$work/npm.log")"
fi
info "npm ci --offline: the dependencies, from the bundled cache and lockfile ($(since "$mark") so far)"
printf '%s\n' "$version" >"$staging/.tenantry-bundle"
mkdir "$staging/bin"
cat >"$staging/bin/tenantry" <<EOF
#!/bin/sh
# The tenantry command, installed from the air-gap bundle of Tenantry $version.
exec "$prefix/node/bin/node" "$prefix/app/node_modules/tenantry/bin/tenantry.js" "\$@"
EOF
chmod 0755 "$staging/bin/tenantry"

pid_file=$data_dir/tenantry.pid
log_file=$data_dir/tenantry.log
running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }
if running; then
  info "stopping the running Tenantry (pid $(cat "$pid_file"))"
  kill -TERM "$(cat "$pid_file")"
  for _ in $(seq 1 60); do running || break; sleep 0.5; done
  ! running || die "Tenantry (pid $(cat "$pid_file")) did not stop"
fi
if [ -e "$prefix" ]; then
  rm -rf "$prefix.old"
  mv "$prefix" "$prefix.old"
fi
mv "$staging" "$prefix"
staging=
rm -rf "$prefix.old"
info "installed: $prefix/bin/tenantry, in $(since "$mark")"

# --- 3. start ------------------------------------------------------------------------------------
if [ -z "$start" ]; then
  say "Installed (not started: --no-start)"
  exit 0
fi
database="embedded PGlite in $data_dir"
[ -z "$database_url" ] || database="the PostgreSQL in DATABASE_URL"
say "Starting Tenantry on $host:$port ($database)"
mkdir -p "$data_dir"
chmod 0700 "$data_dir"
# The previous run's log is kept beside; this one starts empty, so the key below is this start's.
if [ -f "$log_file" ]; then mv -f "$log_file" "$log_file.1"; fi
: >"$log_file"
chmod 0600 "$log_file"
mark=$(now_ms)
(
  export TENANTRY_DATA_DIR=$data_dir PORT=$port HOST=$host
  if [ -n "$database_url" ]; then export DATABASE_URL=$database_url; fi
  cd "$data_dir"
  exec setsid "$prefix/bin/tenantry" serve </dev/null >>"$log_file" 2>&1
) &
printf '%s\n' "$!" >"$pid_file"
ready_url=http://127.0.0.1:$port/readyz
[ "$host" = 127.0.0.1 ] || [ "$host" = 0.0.0.0 ] || ready_url=http://$host:$port/readyz
ready=
for _ in $(seq 1 240); do
  running || die "tenantry serve exited; its log, $log_file:" "$(tail -n 20 "$log_file")"
  if "$prefix/node/bin/node" -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$ready_url"; then
    ready=1
    break
  fi
  sleep 0.5
done
[ -n "$ready" ] || die "tenantry serve is not ready after 120 s; its log, $log_file:" "$(tail -n 20 "$log_file")"
say "Tenantry $version is ready, $(since "$mark") after start: $ready_url (pid $(cat "$pid_file"), log $log_file)"
# `serve` prints the first operator key once, on the first start of an empty database.
if grep -q 'TENANTRY_TOKEN=' "$log_file"; then
  info "the first operator API key, shown once:"
  grep -m 1 -o 'TENANTRY_TOKEN=[^[:space:]]*' "$log_file" | sed 's/^/      /'
fi

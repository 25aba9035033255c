#!/usr/bin/env bash
# Installs the Tenantry control plane on one Debian or Ubuntu machine, as a systemd service:
#
#   curl -fsSLO https://…/install.sh && sudo bash install.sh            # asks once, then installs
#   sudo bash install.sh --yes --database-url postgres://…               # no questions, your PostgreSQL
#   sudo bash install.sh --dry-run                                      # shows what it would do
#   sudo bash install.sh --uninstall [--purge]                          # removes it (data kept unless --purge)
#
# What it does, each step skipped when already done, so a second run changes nothing that is right:
#   1. checks: root, the OS (Debian 12+, Ubuntu 22.04+; x86_64 or aarch64), systemd, the port;
#   2. Node.js: uses the machine's when it is 22.12 or later (with npm beside it), otherwise puts
#      Node.js 24 in /opt/tenantry/node for Tenantry alone: the official linux tarball from
#      nodejs.org checked against its SHASUMS256.txt, or the one given with --node-tarball;
#   3. the `tenantry` npm package (a pinned version, or local tarballs with --package) in
#      /opt/tenantry, owned by root, and the `tenantry` command in /usr/local/bin;
#   4. the system user `tenantry` (no shell, no login) and its data directory /var/lib/tenantry;
#   5. PostgreSQL: the one given with --database-url, else the local cluster (installed from the
#      distribution's packages when there is none), in which it makes a `tenantry` role (not a
#      superuser: CREATEDB and CREATEROLE, which provisioning tenants needs) and database;
#   6. /etc/tenantry/tenantry.env (root:tenantry, 0640) with generated secrets: the master key, the
#      bootstrap token (the first operator key) and the tenant binding key. A re-run keeps them;
#   7. the systemd unit tenantry.service (sandboxed), checked with `systemd-analyze verify`;
#   8. `tenantry migrate` as the service user, then starts the service and waits for /readyz;
#   9. prints the first operator key, once.
#
# Without systemd running (a container, a chroot), it stops and says so; --no-systemd then starts
# the unit's command under start-stop-daemon instead, as the service user with the unit's
# environment, without the unit's sandbox, restarts or start at boot.
set -euo pipefail

readonly TENANTRY_DEFAULT_VERSION=0.1.0
# Node.js the installer puts in /opt/tenantry/node when the machine has none new enough.
readonly NODE_MAJOR=24
readonly NODE_MIN_MAJOR=22 NODE_MIN_MINOR=12
readonly PG_MIN_MAJOR=15

readonly SERVICE=tenantry
readonly SERVICE_USER=tenantry
readonly PREFIX=/opt/tenantry
readonly NODE_DIR=$PREFIX/node
readonly CONF_DIR=/etc/tenantry
readonly ENV_FILE=$CONF_DIR/tenantry.env
# What the installer made, so a re-run and --purge know what is theirs to keep or remove. No secrets.
readonly STATE_FILE=$CONF_DIR/install.state
readonly DATA_DIR=/var/lib/tenantry
readonly LOG_DIR=/var/log/tenantry
readonly RUN_DIR=/run/tenantry
readonly PID_FILE=$RUN_DIR/tenantry.pid
readonly UNIT_FILE=/etc/systemd/system/$SERVICE.service
readonly COMMAND_FILE=/usr/local/bin/tenantry
readonly CLI=$PREFIX/node_modules/tenantry/bin/tenantry.js
readonly LOCK_FILE=/run/lock/tenantry-install.lock
readonly SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# --- options -------------------------------------------------------------------------------------
mode=install
dry_run=
assume_yes=
purge=
no_systemd=
opt_port=
opt_host=
opt_public_url=
opt_database_url=
tenantry_version=${TENANTRY_VERSION:-$TENANTRY_DEFAULT_VERSION}
packages=()
node_tarball=${TENANTRY_NODE_TARBALL:-}
node_mirror=${TENANTRY_NODE_MIRROR:-https://nodejs.org/dist}
registry=

usage() {
  cat <<EOF
Usage: sudo bash install.sh [options]

Installs the Tenantry control plane as the systemd service "$SERVICE" (see the top of this file).
Run it again to repair or upgrade: it keeps the configuration and its secrets.

Options:
  -y, --yes                  do not ask before changing anything (needed without a terminal)
      --dry-run              print every action and change nothing
      --port N               the port the API listens on (default 8080, or the configured one)
      --host ADDR            the address it listens on (default 0.0.0.0; 127.0.0.1 behind a proxy)
      --public-url URL       the URL apps reach it at (default http://<this host's name>:<port>)
      --database-url URL     use this PostgreSQL 15+ (postgres://user:password@host:5432/db)
                             instead of the local one
      --tenantry-version V   the tenantry npm package version (default $TENANTRY_DEFAULT_VERSION)
      --package FILE.tgz     install from these package tarballs instead of the registry
                             (repeat it: tenantry, @tenantry/server, @tenantry/core, @tenantry/sdk)
      --registry URL         the npm registry to install from (a mirror)
      --node-tarball FILE    Node.js to use when the machine has none >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR: a nodejs.org
                             linux tarball (node-v$NODE_MAJOR.x.y-linux-x64.tar.gz), checked against the
                             SHASUMS256.txt beside it when there is one (env TENANTRY_NODE_TARBALL)
      --no-systemd           where systemd is not running (containers, chroots): start the
                             service with start-stop-daemon instead; no restart, no start at boot
      --uninstall            stop and remove the service and the program; keeps the configuration,
                             the data and the database
      --purge                with --uninstall: also remove /etc/tenantry, /var/lib/tenantry, the
                             user and the database and role the installer made
  -h, --help                 this help

Environment: TENANTRY_VERSION, TENANTRY_NODE_TARBALL, TENANTRY_NODE_MIRROR (default
https://nodejs.org/dist), and npm's own (npm_config_registry, npm_config_cache, proxies).
EOF
}

usage_error() {
  printf 'install.sh: error: %s\n' "$1" >&2
  printf 'Run "bash install.sh --help" for the options.\n' >&2
  exit 2
}

original_args=("$@")
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case $1 in
  -y | --yes) assume_yes=1 ;;
  --dry-run) dry_run=1 ;;
  --port) need_value "$@"; opt_port=$2; shift ;;
  --host) need_value "$@"; opt_host=$2; shift ;;
  --public-url) need_value "$@"; opt_public_url=$2; shift ;;
  --database-url) need_value "$@"; opt_database_url=$2; shift ;;
  --tenantry-version) need_value "$@"; tenantry_version=$2; shift ;;
  --package) need_value "$@"; packages+=("$2"); shift ;;
  --registry) need_value "$@"; registry=$2; shift ;;
  --node-tarball) need_value "$@"; node_tarball=$2; shift ;;
  --no-systemd) no_systemd=1 ;;
  --uninstall) mode=uninstall ;;
  --purge) purge=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage_error "unknown option: $1" ;;
  esac
  shift
done

# --- output --------------------------------------------------------------------------------------
if [ -t 1 ]; then bold=$'\e[1m' red=$'\e[31m' yellow=$'\e[33m' plain=$'\e[0m'; else bold='' red='' yellow='' plain=''; fi
say() { printf '%s==> %s%s\n' "$bold" "$*" "$plain"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$yellow" "$plain" "$*" >&2; }
die() {
  printf '%sinstall.sh: error:%s %s\n' "$red" "$plain" "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

# Every change goes through act (commands) or put_file (files): a dry run prints them instead.
changed=
act() {
  local what=$1
  shift
  if [ -n "$dry_run" ]; then
    info "would $what"
    return 0
  fi
  info "$what"
  # Without the lock's descriptor: a daemon started here (PostgreSQL) would hold the lock forever.
  "$@" 9>&-
  changed=1
}

# put_file PATH MODE OWNER GROUP: writes stdin to PATH unless it holds that already, atomically.
put_file() {
  local path=$1 mode=$2 owner=$3 group=$4 content tmp
  content=$(cat)
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] &&
    [ "$(stat -c '%a %U %G' "$path")" = "${mode#0} $owner $group" ]; then
    info "$path is up to date"
    return 0
  fi
  if [ -n "$dry_run" ]; then
    info "would write $path ($mode, $owner:$group)"
    return 0
  fi
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chown "$owner:$group" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  info "wrote $path ($mode, $owner:$group)"
  changed=1
}

# Asks before the first change, on the terminal even when the script came through a pipe.
confirm() {
  if [ -n "$assume_yes" ] || [ -n "$dry_run" ]; then return 0; fi
  local answer
  if ! { exec 3</dev/tty; } 2>/dev/null; then
    die "there is no terminal to ask on: run it again with --yes to go ahead (or --dry-run to see what it would do)"
  fi
  printf '%s [y/N] ' "$1" >/dev/tty
  read -r answer <&3 || answer=
  exec 3<&-
  case $answer in y | Y | yes | YES) ;; *) die "stopped: nothing was changed" ;; esac
}

# --- small helpers -------------------------------------------------------------------------------
# The value of KEY in a KEY=value file (no quotes: the installer writes none), or nothing.
file_value() {
  local file=$1 key=$2 line
  [ -r "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in "$key="*) printf '%s' "${line#*=}"; return 0 ;; esac
  done <"$file"
}

random_base64() { head -c "$1" /dev/urandom | base64 -w0; }
random_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }

# 0 when version $1 (x.y.z) is at least $2.$3.
version_at_least() {
  local major minor rest
  IFS=. read -r major minor rest <<<"$1"
  [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

# The port numbers of every listening TCP socket on the machine, in decimal.
listening_ports() {
  local file
  for file in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$file" ] || continue
    awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' "$file"
  done | while read -r hex; do printf '%d\n' "0x$hex"; done | sort -u
}

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# Is the service installed here running now (under systemd, or started by --no-systemd)?
service_running() {
  if systemd_running && systemctl is-active --quiet "$SERVICE.service"; then return 0; fi
  [ -f "$PID_FILE" ] && start-stop-daemon --status --pidfile "$PID_FILE" 2>/dev/null
}

# Runs a command with only the configuration's environment, as the unit's is, in the data directory.
with_service_env() {
  (
    while IFS= read -r name; do unset "$name" 2>/dev/null || true; done < <(compgen -e)
    export PATH=$SYSTEM_PATH HOME=$DATA_DIR LANG=C.UTF-8
    load_env_file
    cd "$DATA_DIR"
    exec "$@"
  )
}
# The same, as the service user.
as_service() {
  with_service_env setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups --no-new-privs -- "$@"
}

# Exports the configuration's KEY=value lines into this (sub)shell, as systemd's EnvironmentFile=
# reads them: comments and blank lines skipped, the rest of the line after the first = is the value.
load_env_file() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || continue
    export "${line%%=*}=${line#*=}"
  done <"$ENV_FILE"
}

# Fetches an URL over HTTPS into a file, with curl or wget (curl is installed when neither is).
download() {
  if ! command -v curl >/dev/null && ! command -v wget >/dev/null; then
    act "install curl (to download Node.js)" apt_install curl ca-certificates
  fi
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 --proto '=https,http' -o "$2" "$1"
  else
    wget -q -O "$2" "$1"
  fi
}

# apt-get install, from the package lists already here when they have the packages (a fresh cloud
# image may have none: then after apt-get update). The packages' chatter is shown only on failure.
apt_install() {
  local output
  export DEBIAN_FRONTEND=noninteractive
  output=$(apt-get install -y -qq --no-install-recommends "$@" 2>&1) && return 0
  apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed; installing from the package lists already here"
  output=$(apt-get install -y -qq --no-install-recommends "$@" 2>&1) ||
    die "apt-get install $* failed:" "$(tail -n 15 <<<"$output")"
}

# Sets pg_version and pg_port from the local PostgreSQL's newest cluster (pg_lsclusters: "version
# name port status owner datadir logfile"); leaves them empty when there is none.
newest_cluster() { read -r pg_version _ pg_port _ < <(pg_lsclusters -h | sort -k1,1V | tail -n 1) || true; }

# Runs SQL as the local cluster's postgres superuser (peer authentication over the socket).
pg_admin() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --port="$pg_port" "$@"
}

# --- checks that hold for every mode -------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "install.sh must run as root: it creates a system user and writes /etc, /opt and the systemd unit." \
  "Run it with sudo: sudo bash install.sh ${original_args[*]}"

[ -z "$purge" ] || [ "$mode" = uninstall ] || usage_error "--purge goes with --uninstall"

os_id='' os_version='' os_name=''
if [ -r /etc/os-release ]; then
  # shellcheck source=/dev/null # the machine's, read in a subshell
  IFS=$'\x1f' read -r os_id os_version os_name < <(. /etc/os-release && printf '%s\x1f%s\x1f%s\n' "${ID:-}" "${VERSION_ID:-}" "${PRETTY_NAME:-${ID:-}}")
fi
case $os_id in
debian) version_at_least "$os_version.0" 12 0 || die "unsupported OS: $os_name. install.sh supports Debian 12 or later and Ubuntu 22.04 or later." ;;
ubuntu) version_at_least "$os_version" 22 4 || die "unsupported OS: $os_name. install.sh supports Debian 12 or later and Ubuntu 22.04 or later." ;;
*) die "unsupported OS: ${os_name:-unknown (no /etc/os-release)}. install.sh supports Debian 12 or later and Ubuntu 22.04 or later." \
  "Elsewhere, run the container image (Dockerfile, docker-compose.yml) or the npm package (npx tenantry serve)." ;;
esac
case $(uname -m) in
x86_64) node_arch=x64 ;;
aarch64) node_arch=arm64 ;;
*) die "unsupported processor: $(uname -m). Tenantry's installer supports x86_64 and aarch64." ;;
esac

if systemd_running; then
  use_systemd=1
elif [ -n "$no_systemd" ] || [ "$mode" = uninstall ]; then
  use_systemd=
else
  die "systemd is not running on this machine (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown)), so the service cannot be started by it." \
    "In a container or chroot, run again with --no-systemd: the service is then started with start-stop-daemon," \
    "as the service user with the unit's environment, but without the unit's sandbox, restarts on failure or start at boot." \
    "On a VM or server, boot it with systemd."
fi

# Taken once the checks passed and the user agreed, so that refusals leave no trace either.
take_lock() {
  [ -z "$dry_run" ] || return 0
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -n 9 || die "another install.sh is running on this machine"
}

# Stops the service started by --no-systemd (start-stop-daemon), SIGKILL after 30 s.
stop_fallback() { start-stop-daemon --stop --quiet --pidfile "$PID_FILE" --retry TERM/30/KILL/5 --remove-pidfile; }

# --- uninstall -----------------------------------------------------------------------------------
stop_service() {
  if [ -n "$use_systemd" ] && [ -f "$UNIT_FILE" ]; then
    if systemctl is-enabled --quiet "$SERVICE.service" 2>/dev/null || systemctl is-active --quiet "$SERVICE.service"; then
      act "stop and disable $SERVICE.service" systemctl disable --now --quiet "$SERVICE.service"
    fi
  fi
  if [ -f "$PID_FILE" ]; then
    if start-stop-daemon --status --pidfile "$PID_FILE" 2>/dev/null; then
      act "stop the service (start-stop-daemon, pid $(cat "$PID_FILE"))" stop_fallback
    else
      act "remove the stale pid file $PID_FILE" rm -f "$PID_FILE"
    fi
  fi
}

uninstall() {
  local database_mode
  database_mode=$(file_value "$STATE_FILE" database)
  if [ ! -e "$PREFIX" ] && [ ! -e "$UNIT_FILE" ] && [ ! -e "$COMMAND_FILE" ] && { [ -z "$purge" ] || [ ! -e "$CONF_DIR" ]; }; then
    say "Tenantry is not installed here; nothing to do"
    return 0
  fi
  say "Uninstalling Tenantry${purge:+, and purging its configuration, data and database}${dry_run:+ (dry run: nothing is changed)}"
  if [ -n "$purge" ]; then
    confirm "Remove Tenantry with its configuration, secrets, data${database_mode:+ and database}? This cannot be undone."
  else
    confirm "Remove the Tenantry service and program (configuration, data and database are kept)?"
  fi
  take_lock
  stop_service
  if [ -f "$UNIT_FILE" ]; then
    act "remove $UNIT_FILE" rm -f "$UNIT_FILE" "/etc/systemd/system/multi-user.target.wants/$SERVICE.service"
    if [ -n "$use_systemd" ]; then act "reload systemd" systemctl daemon-reload; fi
  fi
  [ ! -e "$COMMAND_FILE" ] || act "remove $COMMAND_FILE" rm -f "$COMMAND_FILE"
  [ ! -e "$PREFIX" ] || act "remove the program, $PREFIX" rm -rf "$PREFIX"
  [ ! -e "$RUN_DIR" ] || act "remove $RUN_DIR" rm -rf "$RUN_DIR"
  if [ -n "$dry_run" ] && [ -z "$purge" ]; then
    say "Dry run: nothing was changed. --uninstall keeps $CONF_DIR, $DATA_DIR, $LOG_DIR, the user $SERVICE_USER and the database."
    return 0
  elif [ -z "$purge" ]; then
    say "Removed. Kept: $CONF_DIR (configuration and secrets), $DATA_DIR, $LOG_DIR, the user $SERVICE_USER and the database."
    info "Installing again picks them up; --uninstall --purge removes them."
    return 0
  fi
  if [ "$database_mode" = local ]; then
    pg_port=$(file_value "$STATE_FILE" pg_port)
    if command -v psql >/dev/null && runuser -u postgres -- pg_isready -q --port="$pg_port" 2>/dev/null; then
      act "drop the database tenantry and the role tenantry" pg_admin -d postgres \
        -c 'drop database if exists tenantry with (force)' -c 'drop role if exists tenantry'
      info "PostgreSQL itself stays installed (apt-get purge postgresql removes it, with any other databases)"
    else
      warn "the local PostgreSQL is not running: the database tenantry and the role tenantry are left in it"
    fi
  elif [ -n "$(file_value "$ENV_FILE" DATABASE_URL)" ]; then
    info "the database given with --database-url is not the installer's: it is left as it is"
  fi
  [ ! -e "$CONF_DIR" ] || act "remove $CONF_DIR (configuration and secrets)" rm -rf "$CONF_DIR"
  [ ! -e "$DATA_DIR" ] || act "remove $DATA_DIR" rm -rf "$DATA_DIR"
  [ ! -e "$LOG_DIR" ] || act "remove $LOG_DIR" rm -rf "$LOG_DIR"
  if getent passwd "$SERVICE_USER" >/dev/null; then act "remove the user $SERVICE_USER" userdel "$SERVICE_USER"; fi
  if getent group "$SERVICE_USER" >/dev/null; then act "remove the group $SERVICE_USER" groupdel "$SERVICE_USER"; fi
  if [ -n "$dry_run" ]; then say "Dry run: nothing was changed"; else say "Purged."; fi
}

if [ "$mode" = uninstall ]; then
  uninstall
  exit 0
fi

# --- install: everything is checked before anything changes ---------------------------------------
reinstall=
[ -f "$ENV_FILE" ] && reinstall=1

port=${opt_port:-$(file_value "$ENV_FILE" PORT)}
port=${port:-8080}
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  usage_error "--port must be a number from 1 to 65535, not \"$port\""
fi
host=${opt_host:-$(file_value "$ENV_FILE" HOST)}
host=${host:-0.0.0.0}
[[ $host =~ ^[0-9A-Za-z.:_-]+$ ]] || usage_error "--host must be an address such as 0.0.0.0, 127.0.0.1 or ::, not \"$host\""
if [ -n "$opt_public_url" ] && ! [[ $opt_public_url =~ ^https?://[^[:space:]\"\'\\?#@]+$ ]]; then
  usage_error "--public-url must be the http:// or https:// URL apps reach the control plane at, e.g. https://tenantry.example.com"
fi
# Values go into the configuration unquoted, as KEY=value lines: those characters would need quoting.
if [ -n "$opt_database_url" ] && ! [[ $opt_database_url =~ ^postgres(ql)?://[^[:space:]\"\'\\\`\$]+$ ]]; then
  usage_error "--database-url must be a postgres:// or postgresql:// URL without spaces, quotes, backslashes or \$ (percent-encode them), e.g. postgres://tenantry:secret@db.internal:5432/tenantry"
fi
[[ $tenantry_version =~ ^[0-9A-Za-z.+-]+$ ]] || usage_error "--tenantry-version must be a version such as $TENANTRY_DEFAULT_VERSION, not \"$tenantry_version\""
for package in "${packages[@]}"; do
  [ -f "$package" ] || usage_error "--package $package: no such file"
  [[ $package == *.tgz ]] || usage_error "--package $package: not a package tarball (.tgz, as npm pack makes)"
done

if [ "$port" -lt 1024 ] && [ -z "$use_systemd" ]; then
  die "port $port is below 1024, which only systemd can let the service user bind (the unit grants CAP_NET_BIND_SERVICE)." \
    "Without systemd, use a port from 1024 up, behind a reverse proxy on $port."
fi
# The port: free, or held by this very service (a re-run).
running=
service_running && running=1
current_port=$(file_value "$ENV_FILE" PORT)
if [ -z "$running" ] || [ "$port" != "${current_port:-8080}" ]; then
  if [ ! -r /proc/net/tcp ]; then
    warn "cannot see which ports are in use (/proc is not mounted): not checking port $port"
  elif listening_ports | grep -qx "$port"; then
    die "port $port is in use by another program, so Tenantry could not listen on it." \
      "Choose another with --port N, or stop that program (\`ss -ltnp 'sport = :$port'\` names it)."
  fi
fi

# Node.js: the machine's when new enough and npm is beside it, else a private one in $NODE_DIR.
node_bin='' npm_cli='' node_source=''
node_usable() { # $1: a node binary; sets node_bin and npm_cli when it will do
  local version cli
  [ -x "$1" ] || return 1
  version=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1
  version_at_least "$version" "$NODE_MIN_MAJOR" "$NODE_MIN_MINOR" || return 1
  cli="$(dirname "$1")/../lib/node_modules/npm/bin/npm-cli.js"
  [ -f "$cli" ] || cli=$(dirname "$(readlink -f "$(command -v npm 2>/dev/null || echo /nonexistent)")")/npm-cli.js
  [ -f "$cli" ] || return 1
  node_bin=$(readlink -f "$1")
  npm_cli=$(readlink -f "$cli")
  node_version=$version
}
node_version=
if node_usable "$NODE_DIR/bin/node"; then
  node_source="$NODE_DIR (installed for Tenantry)"
elif system_node=$(command -v node) && node_usable "$system_node"; then
  node_source="this machine's $node_bin"
else
  if [ -n "${system_node:-}" ]; then
    found="Node.js $("$system_node" --version 2>/dev/null || echo '(unknown version)') at $system_node is too old or has no npm"
  else
    found="there is no Node.js on this machine"
  fi
  if [ -n "$node_tarball" ]; then
    [ -f "$node_tarball" ] || usage_error "--node-tarball $node_tarball: no such file"
    tarball_name=$(basename "$node_tarball")
    [[ $tarball_name =~ ^node-v([0-9]+\.[0-9]+\.[0-9]+)-linux-([a-z0-9]+)\.tar\.gz$ ]] ||
      die "--node-tarball $node_tarball is not a Node.js linux tarball named like node-v$NODE_MAJOR.11.1-linux-$node_arch.tar.gz (from https://nodejs.org/dist/)"
    tarball_version=${BASH_REMATCH[1]} tarball_arch=${BASH_REMATCH[2]}
    version_at_least "$tarball_version" "$NODE_MIN_MAJOR" "$NODE_MIN_MINOR" ||
      die "Node.js $tarball_version (--node-tarball) is too old: Tenantry needs Node.js $NODE_MIN_MAJOR.$NODE_MIN_MINOR or later ($NODE_MAJOR LTS recommended)"
    [ "$tarball_arch" = "$node_arch" ] ||
      die "--node-tarball $tarball_name is for $tarball_arch, this machine is $node_arch"
    sums="$(dirname "$node_tarball")/SHASUMS256.txt"
    node_tarball_checked=
    if [ -f "$sums" ]; then
      expected=$(awk -v f="$tarball_name" '$2 == f { print $1 }' "$sums")
      [ -n "$expected" ] || die "$sums has no checksum for $tarball_name"
      [ "$(sha256sum "$node_tarball" | cut -d' ' -f1)" = "$expected" ] ||
        die "$node_tarball does not match its checksum in $sums: it is damaged or not the published file"
      node_tarball_checked=1
    fi
    node_source="to install from $node_tarball"
  else
    node_source="to install from $node_mirror/latest-v$NODE_MAJOR.x"
  fi
fi

# PostgreSQL: given, configured before, the local cluster, or installed from the distribution.
database_url=${opt_database_url:-$(file_value "$ENV_FILE" DATABASE_URL)}
database_mode=$(file_value "$STATE_FILE" database)
pg_version='' pg_port=''
if [ -n "$opt_database_url" ]; then
  database_mode=given
elif [ -z "$database_url" ] || [ "$database_mode" = local ]; then
  database_mode=local
  if command -v pg_lsclusters >/dev/null; then newest_cluster; fi
  if [ -n "$pg_version" ]; then
    version_at_least "$pg_version.0" "$PG_MIN_MAJOR" 0 ||
      die "the local PostgreSQL is $pg_version; Tenantry needs $PG_MIN_MAJOR or later." \
        "Upgrade it (pg_upgradecluster), or pass --database-url for a PostgreSQL $PG_MIN_MAJOR+ server elsewhere."
    pg_plan="the local PostgreSQL $pg_version cluster (port $pg_port)"
  else
    candidate=$(apt-cache policy postgresql 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [[ $candidate =~ ^([0-9]+)\+ ]] && [ "${BASH_REMATCH[1]}" -lt "$PG_MIN_MAJOR" ]; then
      die "$os_name's PostgreSQL is ${candidate%%+*}; Tenantry needs $PG_MIN_MAJOR or later." \
        "Install PostgreSQL $PG_MIN_MAJOR+ (e.g. from apt.postgresql.org) and run this again, or pass --database-url."
    fi
    pg_plan="PostgreSQL from $os_name's packages (apt-get install postgresql)"
  fi
else
  database_mode=given
fi

say "Tenantry on $os_name${dry_run:+ (dry run: nothing is changed)}"
if [ -n "$reinstall" ]; then info "already installed: checking and repairing it; the configuration and its secrets are kept"; fi
if [ ${#packages[@]} -gt 0 ]; then
  info "program:    tenantry from ${packages[*]##*/}, in $PREFIX"
else
  info "program:    tenantry $tenantry_version from ${registry:-the npm registry}, in $PREFIX"
fi
info "Node.js:    ${node_version:+$node_version, }$node_source"
info "database:   $([ "$database_mode" = given ] && echo "the one in DATABASE_URL" || echo "$pg_plan")"
info "service:    $SERVICE.service, user $SERVICE_USER, listening on $host:$port$([ -z "$use_systemd" ] && echo ' (started with start-stop-daemon: systemd is not running)')"
info "config:     $ENV_FILE"
confirm "Go ahead?"
take_lock

# --- 1. Node.js ----------------------------------------------------------------------------------
say "Node.js"
install_node() { # $1: a verified tarball
  mkdir -p "$PREFIX"
  rm -rf "$NODE_DIR.new"
  mkdir -p "$NODE_DIR.new"
  tar -xzf "$1" -C "$NODE_DIR.new" --strip-components=1 --no-same-owner
  "$NODE_DIR.new/bin/node" --version >/dev/null
  rm -rf "$NODE_DIR"
  mv "$NODE_DIR.new" "$NODE_DIR"
}
if [ -n "$node_bin" ]; then
  info "using Node.js $node_version at $node_bin"
elif [ -n "$dry_run" ]; then
  info "would install Node.js $NODE_MAJOR ${node_source#to install }, into $NODE_DIR, for Tenantry only ($found)"
else
  info "$found: installing Node.js $NODE_MAJOR for Tenantry only, in $NODE_DIR"
  if [ -n "$node_tarball" ]; then
    if [ -n "$node_tarball_checked" ]; then
      info "checked $tarball_name against $sums"
    else
      warn "no SHASUMS256.txt beside $node_tarball: its checksum is not checked"
    fi
    act "unpack $tarball_name into $NODE_DIR" install_node "$node_tarball"
  else
    download_dir=$(mktemp -d)
    trap 'rm -rf "$download_dir"' EXIT
    base="$node_mirror/latest-v$NODE_MAJOR.x"
    download "$base/SHASUMS256.txt" "$download_dir/SHASUMS256.txt" ||
      die "could not download $base/SHASUMS256.txt" "Without internet access, download a node-v$NODE_MAJOR.x.y-linux-$node_arch.tar.gz and its SHASUMS256.txt elsewhere and pass --node-tarball."
    read -r expected tarball_name < <(grep -E "  node-v$NODE_MAJOR\.[0-9]+\.[0-9]+-linux-$node_arch\.tar\.gz$" "$download_dir/SHASUMS256.txt") ||
      die "$base/SHASUMS256.txt lists no linux-$node_arch tarball"
    info "downloading $base/$tarball_name"
    download "$base/$tarball_name" "$download_dir/$tarball_name" || die "could not download $base/$tarball_name"
    [ "$(sha256sum "$download_dir/$tarball_name" | cut -d' ' -f1)" = "$expected" ] ||
      die "the download of $tarball_name does not match its published SHA-256 checksum: not installed"
    info "checked $tarball_name against SHASUMS256.txt"
    act "unpack $tarball_name into $NODE_DIR" install_node "$download_dir/$tarball_name"
  fi
  node_usable "$NODE_DIR/bin/node" ||
    die "the Node.js in $NODE_DIR does not run, or is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR, or has no npm"
  info "Node.js $node_version is in $NODE_DIR"
fi

# --- 2. the program ------------------------------------------------------------------------------
say "Tenantry program"
npm_install() { # $@: package specs
  local args=(install --omit=dev --no-audit --no-fund --no-update-notifier --ignore-scripts --save-exact)
  [ -z "$registry" ] || args+=(--registry "$registry")
  (cd "$PREFIX" && PATH="$(dirname "$node_bin"):$SYSTEM_PATH" "$node_bin" "$npm_cli" "${args[@]}" "$@" >"$PREFIX/npm-install.log" 2>&1) ||
    die "npm install failed; its output is in $PREFIX/npm-install.log" "$(tail -n 5 "$PREFIX/npm-install.log")"
}
# npm needs a package.json to install into; the installer's own, private, ESM like Tenantry.
write_manifest() {
  printf '{ "name": "tenantry-install", "private": true, "type": "module" }\n' >"$PREFIX/package.json"
}
# The version of the tenantry package installed in $PREFIX, or nothing.
tenantry_installed_version() {
  local manifest=$PREFIX/node_modules/tenantry/package.json
  [ ! -f "$manifest" ] || sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1
}
installed_version=$(tenantry_installed_version)
if [ ${#packages[@]} -gt 0 ]; then
  # The tarballs are kept in $PREFIX/packages, so a re-run with the same ones changes nothing.
  same=1
  for package in "${packages[@]}"; do
    cmp -s "$package" "$PREFIX/packages/$(basename "$package")" || same=
  done
  if [ -n "$same" ] && [ -n "$installed_version" ]; then
    info "tenantry $installed_version from these tarballs is installed already"
  else
    install_from_tarballs() {
      mkdir -p "$PREFIX"
      rm -rf "$PREFIX/packages" "$PREFIX/node_modules" "$PREFIX/package-lock.json"
      mkdir -p "$PREFIX/packages"
      cp "${packages[@]}" "$PREFIX/packages/"
      write_manifest
      local specs=() package
      for package in "${packages[@]}"; do specs+=("./packages/$(basename "$package")"); done
      npm_install "${specs[@]}"
    }
    act "install tenantry from ${#packages[@]} tarballs into $PREFIX (npm install)" install_from_tarballs
  fi
elif [ "$installed_version" = "$tenantry_version" ] && [ ! -d "$PREFIX/packages" ]; then
  info "tenantry $tenantry_version is installed already"
else
  install_from_registry() {
    mkdir -p "$PREFIX"
    rm -rf "$PREFIX/packages"
    [ -f "$PREFIX/package.json" ] || write_manifest
    npm_install "tenantry@$tenantry_version"
  }
  act "install tenantry@$tenantry_version into $PREFIX (npm install${installed_version:+, replacing $installed_version})" install_from_registry
fi
if [ -z "$dry_run" ]; then
  [ -f "$CLI" ] || die "$CLI is missing after npm install: the packages installed are not Tenantry's"
  installed_version=$(tenantry_installed_version)
  chown -R root:root "$PREFIX"
  chmod -R go-w "$PREFIX"
fi
put_file "$COMMAND_FILE" 0755 root root <<EOF
#!/bin/sh
# The tenantry command, as installed by install.sh (Tenantry $installed_version on Node.js $node_version).
exec ${node_bin:-$NODE_DIR/bin/node} $CLI "\$@"
EOF

# --- 3. user and directories ---------------------------------------------------------------------
say "Service user and directories"
if getent passwd "$SERVICE_USER" >/dev/null; then
  info "the user $SERVICE_USER exists"
else
  act "create the system user $SERVICE_USER (no login shell)" \
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin \
    --comment "Tenantry control plane" "$SERVICE_USER"
fi
ensure_dir() { # path mode owner group
  if [ -d "$1" ] && [ "$(stat -c '%a %U %G' "$1")" = "${2#0} $3 $4" ]; then
    info "$1 is ready"
  else
    act "make $1 ($2, $3:$4)" install -d -m "$2" -o "$3" -g "$4" "$1"
  fi
}
ensure_dir "$CONF_DIR" 0750 root "$SERVICE_USER"
ensure_dir "$DATA_DIR" 0750 "$SERVICE_USER" "$SERVICE_USER"
[ -n "$use_systemd" ] || ensure_dir "$LOG_DIR" 0750 "$SERVICE_USER" "$SERVICE_USER"

# --- 4. PostgreSQL -------------------------------------------------------------------------------
say "PostgreSQL"
if [ "$database_mode" = given ]; then
  info "using the PostgreSQL in DATABASE_URL${opt_database_url:+ (--database-url)}; the installer creates nothing in it"
else
  if [ -z "$pg_version" ]; then
    act "install PostgreSQL from $os_name's packages" apt_install postgresql
    if [ -z "$dry_run" ]; then
      newest_cluster
      [ -n "$pg_version" ] || die "PostgreSQL was installed but has no cluster (pg_lsclusters lists none)"
      version_at_least "$pg_version.0" "$PG_MIN_MAJOR" 0 || die "the PostgreSQL installed is $pg_version; Tenantry needs $PG_MIN_MAJOR or later"
    fi
  fi
  if [ -n "$pg_version" ]; then
    if ! runuser -u postgres -- pg_isready -q --port="$pg_port" 2>/dev/null; then
      if [ -n "$use_systemd" ]; then
        act "start PostgreSQL $pg_version (systemd)" systemctl enable --now --quiet "postgresql@$pg_version-main.service"
      else
        act "start PostgreSQL $pg_version (pg_ctlcluster: systemd is not running)" pg_ctlcluster "$pg_version" main start
      fi
      if [ -z "$dry_run" ]; then
        for _ in $(seq 1 30); do runuser -u postgres -- pg_isready -q --port="$pg_port" && break; sleep 1; done
        runuser -u postgres -- pg_isready -q --port="$pg_port" || die "PostgreSQL $pg_version did not start on port $pg_port; see /var/log/postgresql"
      fi
    fi
    # The role's password is generated once and kept in DATABASE_URL; a role left by an earlier
    # install whose configuration is gone gets a new one.
    db_password=
    if [[ $database_url =~ ^postgres://tenantry:([0-9a-f]{32,})@127\.0\.0\.1: ]]; then db_password=${BASH_REMATCH[1]}; fi
    if [ -n "$dry_run" ]; then
      info "would make sure the role tenantry (LOGIN CREATEDB CREATEROLE, not a superuser) and the database tenantry exist"
    else
      role_exists=$(pg_admin -d postgres -tAc "select 1 from pg_roles where rolname = 'tenantry'")
      db_exists=$(pg_admin -d postgres -tAc "select 1 from pg_database where datname = 'tenantry'")
      if [ -z "$role_exists" ] || [ -z "$db_password" ]; then
        [ -n "$db_password" ] || db_password=$(random_hex 24)
        verb=$([ -n "$role_exists" ] && echo alter || echo create)
        # On standard input, not the command line, where any user could read the password.
        act "$verb the role tenantry (LOGIN CREATEDB CREATEROLE, not a superuser) with a generated password" \
          pg_admin -d postgres <<<"$verb role tenantry login createdb createrole nosuperuser password '$db_password'"
      else
        info "the role tenantry exists"
      fi
      if [ -z "$db_exists" ]; then
        act "create the database tenantry, owned by tenantry" pg_admin -d postgres -c 'create database tenantry owner tenantry'
      else
        info "the database tenantry exists"
      fi
      database_url="postgres://tenantry:$db_password@127.0.0.1:$pg_port/tenantry"
    fi
  fi
fi

# --- 5. configuration ----------------------------------------------------------------------------
say "Configuration"
# Secrets are read back from the configuration, so a re-run keeps them; only missing ones are made.
master_key=$(file_value "$ENV_FILE" TENANTRY_MASTER_KEY)
bootstrap_token=$(file_value "$ENV_FILE" TENANTRY_BOOTSTRAP_TOKEN)
binding_key=$(file_value "$ENV_FILE" TENANTRY_BINDING_KEY)
public_url=${opt_public_url:-$(file_value "$ENV_FILE" TENANTRY_PUBLIC_URL)}
default_public_url() { printf 'http://%s:%s' "$(hostname -f 2>/dev/null || hostname)" "$1"; }
# A public URL the installer made for the old port follows a new --port.
if [ -z "$opt_public_url" ] && [ -n "$public_url" ] && [ "$public_url" = "$(default_public_url "${current_port:-8080}")" ]; then
  public_url=$(default_public_url "$port")
fi
public_url=${public_url:-$(default_public_url "$port")}
new_secrets=()
[ -n "$master_key" ] || { master_key=$(random_base64 32); new_secrets+=(TENANTRY_MASTER_KEY); }
[ -n "$binding_key" ] || { binding_key=$(random_hex 32); new_secrets+=(TENANTRY_BINDING_KEY); }
if [ -z "$bootstrap_token" ]; then
  new_secrets+=(TENANTRY_BOOTSTRAP_TOKEN)
  # The checksummed operator-key format, made by Tenantry itself (offline).
  if [ -z "$dry_run" ]; then
    bootstrap_token=$(PATH="$(dirname "$node_bin"):$SYSTEM_PATH" "$node_bin" "$CLI" keys generate)
    [[ $bootstrap_token =~ ^tnt_sk_[0-9A-Za-z]+$ ]] || die "tenantry keys generate printed no operator key"
  fi
fi
if [ ${#new_secrets[@]} -gt 0 ]; then
  info "$([ -n "$dry_run" ] && echo 'would generate' || echo generated) ${new_secrets[*]}"
else
  info "keeping the secrets already in $ENV_FILE"
fi

# The installer's settings, replaced in place; every other line (your own settings) is kept.
declare -A managed=(
  [DATABASE_URL]=$database_url
  [TENANTRY_MASTER_KEY]=$master_key
  [TENANTRY_BOOTSTRAP_TOKEN]=$bootstrap_token
  [TENANTRY_BINDING_KEY]=$binding_key
  [PORT]=$port
  [HOST]=$host
  [TENANTRY_PUBLIC_URL]=$public_url
  [TENANTRY_DATA_DIR]=$DATA_DIR
  [NODE_ENV]=production
)
managed_order=(DATABASE_URL TENANTRY_MASTER_KEY TENANTRY_BOOTSTRAP_TOKEN TENANTRY_BINDING_KEY PORT HOST TENANTRY_PUBLIC_URL TENANTRY_DATA_DIR NODE_ENV)
render_env() {
  local line key seen=()
  if [ -f "$ENV_FILE" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      key=${line%%=*}
      if [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] && [ -n "${managed[$key]+set}" ]; then
        printf '%s=%s\n' "$key" "${managed[$key]}"
        seen+=("$key")
      else
        printf '%s\n' "$line"
      fi
    done <"$ENV_FILE"
  else
    cat <<EOF
# Tenantry control plane: the environment of tenantry.service (systemd's EnvironmentFile=), written
# by install.sh. KEY=value, one a line, no quotes. Your own lines are kept when install.sh runs again.
# Keep a copy of the secrets somewhere safe: without TENANTRY_MASTER_KEY the secrets stored in the
# database cannot be read. The app's SDK needs the same TENANTRY_BINDING_KEY. The other settings
# are in the README's "Configuration" table.
EOF
  fi
  for key in "${managed_order[@]}"; do
    [[ " ${seen[*]} " == *" $key "* ]] || printf '%s=%s\n' "$key" "${managed[$key]}"
  done
}
if [ -n "$dry_run" ] && [ -z "$bootstrap_token" ]; then
  info "would write $ENV_FILE (0640, root:$SERVICE_USER) with the generated secrets"
else
  put_file "$ENV_FILE" 0640 root "$SERVICE_USER" <<<"$(render_env)"
fi
first_key_shown=$(file_value "$STATE_FILE" first_key_shown)
write_state() {
  put_file "$STATE_FILE" 0644 root root <<EOF
# What install.sh made here; read by its re-runs and by --uninstall --purge. No secrets.
database=$database_mode
pg_port=$pg_port
node=${node_bin:-$NODE_DIR/bin/node}
first_key_shown=$first_key_shown
EOF
}
write_state

# --- 6. the systemd unit -------------------------------------------------------------------------
say "systemd unit"
exec_start="${node_bin:-$NODE_DIR/bin/node} $CLI serve"
# No capabilities at all, but the one binding a port below 1024 takes.
capabilities=
[ "$port" -ge 1024 ] || capabilities=CAP_NET_BIND_SERVICE
after=network-online.target
[ "$database_mode" = local ] && after="$after postgresql.service"
put_file "$UNIT_FILE" 0644 root root <<EOF
# Written by install.sh; running it again rewrites this file. Local changes: systemctl edit $SERVICE
[Unit]
Description=Tenantry control plane
After=$after
Wants=network-online.target

[Service]
Type=exec
User=$SERVICE_USER
Group=$SERVICE_USER
EnvironmentFile=$ENV_FILE
WorkingDirectory=$DATA_DIR
ExecStart=$exec_start
# serve stops on SIGTERM: it finishes the requests in flight and closes the database.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

# Sandbox: the service writes only its data directory and reaches the network over IP and Unix
# sockets (netlink too: Node lists the machine's addresses through it, as Fastify does when it
# listens on all of them). No MemoryDenyWriteExecute: V8's JIT compiler needs writable, executable
# memory.
StateDirectory=tenantry
StateDirectoryMode=0750
ReadWritePaths=$DATA_DIR
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=$capabilities
AmbientCapabilities=$capabilities
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
UMask=0077

[Install]
WantedBy=multi-user.target
EOF
if [ -z "$dry_run" ] && command -v systemd-analyze >/dev/null; then
  verify_output=$(systemd-analyze verify "$UNIT_FILE" 2>&1) || die "systemd-analyze verify rejects $UNIT_FILE:" "$verify_output"
  info "systemd-analyze verify: no problems"
fi

# --- 7. migrate, start, ready --------------------------------------------------------------------
say "Database migrations"
if [ -n "$dry_run" ]; then
  info "would run tenantry migrate as $SERVICE_USER"
else
  migrate_output=$(as_service "$node_bin" "$CLI" migrate 2>&1) ||
    die "tenantry migrate failed, so the service is not started:" "$migrate_output"
  while IFS= read -r line; do info "$line"; done <<<"$migrate_output"
fi

say "Service"
start_fallback() {
  install -d -m 0755 -o "$SERVICE_USER" -g "$SERVICE_USER" "$RUN_DIR"
  # shellcheck disable=SC2086 # the unit's ExecStart, split into words as systemd splits it
  with_service_env start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PID_FILE" \
    --chuid "$SERVICE_USER:$SERVICE_USER" --chdir "$DATA_DIR" --umask 077 \
    --output "$LOG_DIR/tenantry.log" --exec "${exec_start%% *}" -- ${exec_start#* }
}
if [ -n "$use_systemd" ]; then
  [ -z "$changed" ] || act "reload systemd" systemctl daemon-reload
  systemctl is-enabled --quiet "$SERVICE.service" 2>/dev/null || act "enable $SERVICE.service (start at boot)" systemctl enable --quiet "$SERVICE.service"
  if [ -z "$running" ]; then
    act "start $SERVICE.service" systemctl start "$SERVICE.service"
  elif [ -n "$changed" ]; then
    act "restart $SERVICE.service (its program or configuration changed)" systemctl restart "$SERVICE.service"
  else
    info "$SERVICE.service is running and nothing changed"
  fi
else
  info "systemd is not running: the service is started with start-stop-daemon (--no-systemd), as $SERVICE_USER"
  info "with the unit's command and environment, but not its sandbox; it is not restarted on failure nor at boot"
  if [ -z "$running" ]; then
    act "start the service (log: $LOG_DIR/tenantry.log)" start_fallback
  elif [ -n "$changed" ]; then
    act "restart the service (its program or configuration changed)" eval 'stop_fallback && start_fallback'
  else
    info "the service is running and nothing changed"
  fi
fi

if [ -n "$dry_run" ]; then
  info "would wait for http://127.0.0.1:$port/readyz"
  say "Dry run: nothing was changed"
  exit 0
fi

service_log() {
  if [ -n "$use_systemd" ]; then journalctl -u "$SERVICE.service" -n 30 --no-pager -q 2>/dev/null || true; else tail -n 30 "$LOG_DIR/tenantry.log" 2>/dev/null || true; fi
}
# GET a URL on the service with Node (curl may be absent); prints the body; fails on non-2xx.
http_get() { # url [bearer token]
  # shellcheck disable=SC2016 # JavaScript, whose template literals are not the shell's
  TOKEN=${2:-} "$node_bin" -e '
    const headers = process.env.TOKEN ? { authorization: `Bearer ${process.env.TOKEN}` } : {};
    fetch(process.argv[1], { headers, signal: AbortSignal.timeout(5000) }).then(
      async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); },
      () => process.exit(1),
    );' "$1"
}
check_host=$host
case $host in 0.0.0.0 | '::' | '[::]') check_host=127.0.0.1 ;; *:*) check_host="[$host]" ;; esac
base_url="http://$check_host:$port"
ready=
for _ in $(seq 1 120); do
  if readyz=$(http_get "$base_url/readyz" 2>/dev/null); then ready=1; break; fi
  if ! service_running; then break; fi
  sleep 0.5
done
[ -n "$ready" ] || die "Tenantry did not become ready at $base_url/readyz. Its last log lines:" "$(service_log)"
info "ready: $base_url/readyz answers $readyz"

# --- 8. the first operator key, once --------------------------------------------------------------
if [ "$first_key_shown" = yes ]; then
  say "Tenantry $installed_version is running at $public_url"
  info "the first operator key was shown when Tenantry was installed, and is not shown again"
elif ! keys=$(http_get "$base_url/v1/api-keys" "$bootstrap_token"); then
  # The database had operator keys before this install: the server made no key of the token.
  first_key_shown=yes
  write_state >/dev/null
  say "Tenantry $installed_version is running at $public_url"
  warn "the database had API keys already, so TENANTRY_BOOTSTRAP_TOKEN did not become one: use the keys you have"
else
  key_id=$(KEYS=$keys SHOWN=${bootstrap_token:0:11} "$node_bin" -p \
    'JSON.parse(process.env.KEYS).data.find((k) => k.display_prefix === process.env.SHOWN)?.id ?? "<key id>"' 2>/dev/null || echo "<key id>")
  first_key_shown=yes
  write_state >/dev/null
  cat <<EOF

${bold}Tenantry $installed_version is running at $public_url${plain}

The first operator API key ($key_id). It is shown once, here: keep it in your password manager.

    TENANTRY_TOKEN=$bootstrap_token

It may do everything. Give each app an app key instead (TENANTRY_TOKEN=… tenantry keys create
--name <app> --preset app), and roll this one once you have made your own (tenantry keys roll $key_id).

EOF
fi
info "configuration: $ENV_FILE (secrets: keep a copy); data: $DATA_DIR"
if [ -n "$use_systemd" ]; then
  info "logs: journalctl -u $SERVICE; restart: systemctl restart $SERVICE"
else
  info "logs: $LOG_DIR/tenantry.log; stop: start-stop-daemon --stop --pidfile $PID_FILE --retry TERM/30; start: run install.sh again"
fi
[[ $public_url == https://* ]] || info "serve it over HTTPS behind a reverse proxy, then set it: --public-url https://…"

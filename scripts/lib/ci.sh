#!/usr/bin/env bash
# Helpers the CI steps share (.ci/run, scripts/ci-*.sh, scripts/check-packages.sh,
# scripts/lib/debian-rootfs.sh):
#
#   source scripts/lib/ci.sh
#   say "a heading"                       # a heading in the CI log
#   apt_install_missing buildah unzip    # installs from Debian's packages the commands not on the PATH

say() { printf '\n== %s\n' "$*"; }

# Each argument is a command and the Debian package that has it, of the same name.
apt_install_missing() {
  local missing=() cmd
  for cmd in "$@"; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

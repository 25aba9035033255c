#!/usr/bin/env bash
# The base root filesystem the CI steps that need a fresh Debian machine start from: Debian
# bookworm, debootstrap's minbase variant (essential packages and apt, nothing else), from the
# machine's own Debian mirror. Built once into a tarball under .ci/.work and reused by every step
# of the run that needs it (scripts/ci-container.sh for its Node base image, scripts/ci-install.sh
# for the scratch VM that install.sh runs in).
#
#   source scripts/lib/debian-rootfs.sh
#   tarball=$(debian_rootfs_tarball)     # builds it when missing; needs root and debootstrap
#   debian_rootfs_extract "$dir"         # a fresh copy of it in $dir

# shellcheck source=scripts/lib/ci.sh
source "$(dirname "${BASH_SOURCE[0]}")/ci.sh"

debian_rootfs_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.ci/.work/debian-rootfs"

# The machine's own Debian mirror, as apt is configured with it (one-line or deb822 sources).
debian_mirror() {
  local mirror
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(URIs:|deb)\s+\S+/debian\b' | head -n 1 | awk '{print $2}' || true)
  [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources" >&2; return 1; }
  printf '%s\n' "$mirror"
}

# Prints the path of the base rootfs tarball, building it first when it is not there yet. (Its
# progress goes to stderr: callers capture the path from stdout.)
debian_rootfs_tarball() {
  local tarball="$debian_rootfs_dir/bookworm-minbase.tar" build mirror started
  if [ ! -f "$tarball" ]; then
    apt_install_missing debootstrap >&2 || { echo "debootstrap is missing and could not be installed" >&2; return 1; }
    mirror=$(debian_mirror) || return 1
    mkdir -p "$debian_rootfs_dir"
    build="$debian_rootfs_dir/build"
    rm -rf "$build"
    started=$(date +%s)
    debootstrap --variant=minbase bookworm "$build" "$mirror" >"$debian_rootfs_dir/debootstrap.log" 2>&1 ||
      { tail -n 20 "$debian_rootfs_dir/debootstrap.log" >&2; return 1; }
    # Package files are not part of a fresh machine; the package lists are (apt works at once).
    rm -rf "$build"/var/cache/apt/archives/*.deb
    tar -C "$build" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf "$build"
    echo "built the Debian bookworm base rootfs in $(($(date +%s) - started))s" >&2
  fi
  printf '%s\n' "$tarball"
}

# Unpacks a fresh copy of the base rootfs into $1 (made empty first).
debian_rootfs_extract() {
  local dest=$1 tarball
  tarball=$(debian_rootfs_tarball) || return 1
  debian_rootfs_unmounted "$dest" || return 1
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -C "$dest" -xf "$tarball"
}

# Fails, naming them, when file systems are still mounted under $1 (a run that died before its
# cleanup): removing the folder then would delete what they hold, such as the machine's /dev.
debian_rootfs_unmounted() {
  local dir mounted
  dir=$(realpath -m "$1")
  mounted=$(findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1 || $0 == d')
  [ -z "$mounted" ] && return 0
  printf 'still mounted under %s (unmount them first):\n%s\n' "$dir" "$mounted" >&2
  return 1
}

#!/usr/bin/env bash
# Builds local stand-ins for the official node:20-bookworm and node:20-bookworm-slim
# images, for machines without Docker Hub: Debian bookworm from debootstrap
# (minbase), this machine's Node 20 laid out under /usr/local as the official images
# lay it out, and a `node` user of uid 1000. Kept when they already exist.
#
# Two things the stand-ins carry that the official images do not (and that the
# Dockerfile therefore never mentions): a global npmrc whose cafile is this
# machine's CA list (outgoing TLS is re-signed here), and nodedir=/usr/local so
# native modules build against the copied headers instead of downloading Node's.
set -euo pipefail

PODMAN=(podman --runtime runc)
SLIM=docker.io/library/node:20-bookworm-slim
FULL=docker.io/library/node:20-bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

have () { "${PODMAN[@]}" image exists "$1"; }
if have "$SLIM" && have "$FULL" && [ -z "${REBUILD_STANDINS:-}" ]; then
  echo "stand-ins: cached ($SLIM, $FULL)"
  exit 0
fi

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # …/node_modules/npm
headers=$(dirname "$(dirname "$node_bin")")/include/node
[ -d "$headers" ] || { echo "stand-ins: Node headers not found at $headers" >&2; exit 1; }
ca=${NPM_CAFILE:-$(npm config get cafile 2>/dev/null || true)}
[ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt

work=$(mktemp -d /var/tmp/ecommerce-api-standins.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
start=$(date +%s)

echo "stand-ins: debootstrap --variant=minbase bookworm ($MIRROR)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# Node as the official image has it: /usr/local/{bin,lib/node_modules,include/node}.
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include" "$root/usr/local/etc"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
cp -a "$headers" "$root/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# Stand-in only: this machine's CA list and local headers for npm (see above).
install -m 0644 "$ca" "$root/usr/local/etc/stand-in-ca.crt"
printf 'cafile=/usr/local/etc/stand-in-ca.crt\nnodedir=/usr/local\n' >"$root/usr/local/etc/npmrc"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

import () {
  tar -C "$1" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_VERSION='"$("$node_bin" -p 'process.versions.node')" \
    --change 'CMD ["node"]' - "$2" >/dev/null
  echo "stand-ins: $2 ($(du -sh "$1" | cut -f1))"
}
import "$root" "$SLIM"

echo "stand-ins: python3, make, g++ for the build image"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -qq >"$work/apt.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends \
  python3 make g++ >>"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
: >"$root/etc/resolv.conf"
import "$root" "$FULL"
echo "stand-ins: built in $(( $(date +%s) - start )) s"

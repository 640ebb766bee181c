#!/usr/bin/env bash
# npm run test:container: the container image and the Kubernetes manifests.
# Installs what is missing (podman, runc, debootstrap, kubectl from Debian), builds the
# stand-in base images once if the official ones are not there (standins.sh), then runs
# the tap tests test/deploy/ and test/container/, one after the other. Their results go
# to .tap/test-results like npm test's, so .ci/count.mjs counts them too.
set -uo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test:container: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "test:container: could not install ${missing[*]}; the tests that need them fail in CI, skip elsewhere"
  else
    echo "test:container: not root, not installing; the tests that need them fail in CI, skip elsewhere"
  fi
fi

# The Dockerfile builds FROM node:20-bookworm and node:20-bookworm-slim with --pull=never:
# use the official images when they are in podman's store, else build stand-ins (cached).
if command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
  bash test/container/standins.sh || echo "test:container: stand-in base images failed; the image test fails"
fi

# Sequential (-j1): the image build wants both cores.
exec npx tap -j1 --timeout=1500 test/deploy/manifests.test.ts test/container/image.test.ts "$@"

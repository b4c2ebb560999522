#!/usr/bin/env bash
# Installs, from Debian, the system packages the tests use, when they are missing. Needs root (CI runs as root).
#   docker-registry  a real registry (distribution) to pull test images from
#   skopeo, umoci    OCI tools that build and copy the test images
set -euo pipefail
packages=(docker-registry skopeo umoci)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]} from Debian"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

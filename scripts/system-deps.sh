#!/usr/bin/env bash
# Installs, from Debian, the system packages the tests use, when they are missing. Needs root (CI runs as root).
#   docker-registry  a real registry (distribution) to pull test images from
#   skopeo, umoci    OCI tools that build and copy the test images
#   apache2-utils    `htpasswd -B`: bcrypt passwords for the registry behind basic auth
#   chromium         the real browser the end-to-end tests and the page benchmark drive (through playwright-core)
#   zstd             compresses the saved guest state the page downloads (web/guest-assets.ts)
#   docker.io        the real `docker` client the API tests drive (no dockerd is started)
#   python3-docker   docker-py, the Docker SDK for Python, which test/integration/docker-py.test.ts drives
#   clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
#                    compile test/fixtures/programs/twoways.c to wasm32-wasi for the WASI container tests and bench,
#                    and lessons/programs/primes.c (no libc) for the WebAssembly lesson (scripts/lesson-programs.ts)
#   gcc-i686-linux-gnu musl-dev:i386 linux-libc-dev-i386-cross
#                    compile the same program to static i386 Linux (the toolchain vm-images/build.sh uses for drydockd),
#                    and test/integration/escape/escape.c for the escape suite (and primes.c, as above)
#   debootstrap      builds the Debian i386 image test/integration/apt.test.ts installs a package in (as root)
# The test image fixtures also download busybox-static:i386 with `apt-get download`, so dpkg needs the i386
# architecture and its package lists.
set -euo pipefail
packages=(docker-registry skopeo umoci apache2-utils chromium zstd docker.io python3-docker
  clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 gcc-i686-linux-gnu musl-dev:i386 linux-libc-dev-i386-cross
  debootstrap)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
need_i386=
dpkg --print-foreign-architectures | grep -qx i386 || need_i386=1
[ ${#missing[@]} -eq 0 ] && [ -z "$need_i386" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  [ ${#missing[@]} -eq 0 ] || echo "system-deps: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  [ -z "$need_i386" ] || echo "system-deps: dpkg lacks the i386 architecture; as root: dpkg --add-architecture i386 && apt-get update" >&2
  exit 1
fi
if [ -n "$need_i386" ]; then
  echo "system-deps: adding the i386 architecture to dpkg (for busybox-static:i386)"
  dpkg --add-architecture i386
fi
# A mirror in the middle of a sync fails an index or two; the lists already there (or the rest) are usually enough,
# and the install below says clearly when they are not.
apt-get update -q >/dev/null || echo "system-deps: apt-get update reported errors (a mirror mid-sync?); going on with the package lists there are" >&2
if [ ${#missing[@]} -gt 0 ]; then
  echo "system-deps: installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Builds the Drydock guest from Debian packages only, reproducibly:
#   kernel     linux-source-6.1, `tinyconfig` + kernel/drydock.config, LZ4 bzImage with the initramfs built in
#   initramfs  busybox-static:i386 + rootfs/ (uncompressed cpio, embedded in the kernel)
#   BIOS       seabios (bios.bin, vgabios-stdvga.bin) with its copyright file
#   iptables   Debian's iptables source package, built static for i686 against musl (legacy x_tables, the nat and
#              filter tables dockerd programs), into the initramfs as /sbin/xtables-legacy-multi
# Outputs go to vm-images/dist/ with manifest.json (hashes of every input and output). A full build from an empty
# cache takes about 6 minutes on 2 cores, most of it compiling the kernel; a rebuild after a change to the agent or
# rootfs/ takes under a minute. The same inputs give the same bytes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=$here/.cache
build=$here/.build
dist=$here/dist
packages=(linux-source-6.1 busybox-static:i386 seabios)
tools=(gcc make bc flex bison libelf-dev libssl-dev lz4 cpio xz-utils gcc-i686-linux-gnu linux-libc-dev-i386-cross musl-dev:i386
	dpkg-dev)
started=$(date +%s)

log() { printf '\033[1mbuild:vm\033[0m %s\n' "$*"; }

# --- build tools and the i386 package lists --------------------------------------------------------------------
missing=()
for t in "${tools[@]}"; do dpkg -s "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ! dpkg --print-foreign-architectures | grep -qx i386; then
	log "adding the i386 architecture to dpkg (for busybox-static:i386)"
	dpkg --add-architecture i386
	need_update=1
fi
if [ ${#missing[@]} -gt 0 ] || [ -n "${need_update:-}" ] || [ -z "$(apt-cache policy busybox-static:i386 | grep Candidate: | grep -v none)" ]; then
	log "apt-get update"
	apt-get update -q >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
	log "installing build tools: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# --- input packages: downloaded as .deb files, hashed, extracted -----------------------------------------------
# Packages of the build machine's architecture or of none (linux-source-6.1, seabios) are chosen from a private view
# of this machine's Debian suites that reads only the amd64/all indexes, under .cache with its own lists: the
# machine's apt also reads the i386 ones (for busybox-static:i386), and when one of those fails to download (the
# security suite's has) apt drops the whole suite without failing, so its candidate would silently be an older kernel.
# Here a suite that cannot be read stops the build. busybox-static:i386 needs the i386 index: the machine's apt.
aptk=$cache/apt-amd64
mkdir -p "$aptk/lists/partial" "$aptk/archives/partial"
# shellcheck disable=SC2016 # apt's own format fields, not shell variables
apt-get indextargets --no-release-info --format '$(TARGET_OF) $(REPO_URI) $(RELEASE)' 'Created-By: Packages' | sort -u |
	awk '$1 == "deb" && $2 ~ /debian/ { print "deb [arch=amd64] " $2 " " $3 " main" }' >"$aptk/sources.list"
[ -s "$aptk/sources.list" ] || { echo "build:vm: this machine's apt has no Debian suite to take the kernel from" >&2; exit 1; }
aptk_opts=(-o Dir::Etc::SourceList="$aptk/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$aptk/lists"
	-o Dir::Cache="$aptk" -o Dir::State::status=/dev/null -o APT::Architectures::=amd64)
log "apt-get update (amd64/all indexes of $(wc -l <"$aptk/sources.list") suites)"
apt-get -q "${aptk_opts[@]}" --error-on=any update >/dev/null
mkdir -p "$cache/debs" "$build/pkgs"
pkg_json="["
for p in "${packages[@]}"; do
	name=${p%%:*}
	opts=()
	[ "$p" = "$name" ] && opts=("${aptk_opts[@]}")
	version=$(apt-cache "${opts[@]}" policy "$p" | awk '/Candidate:/ {print $2}')
	[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "build:vm: Debian has no candidate for $p" >&2; exit 1; }
	deb=$(ls "$cache/debs/${name}_${version//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $p $version"
		(cd "$cache/debs" && apt-get download -q "${opts[@]}" "$p=$version" >/dev/null)
		deb=$(ls "$cache/debs/${name}_${version//:/%3a}_"*.deb | head -n1)
	fi
	sha=$(sha256sum "$deb" | cut -d' ' -f1)
	stamp="$build/pkgs/$name.sha256"
	if [ "$(cat "$stamp" 2>/dev/null)" != "$sha" ]; then
		log "extracting $(basename "$deb")"
		rm -rf "$build/pkgs/$name"
		dpkg-deb -x "$deb" "$build/pkgs/$name"
		echo "$sha" >"$stamp"
	fi
	pkg_json+="{\"name\":\"$p\",\"version\":\"$version\",\"deb\":\"$(basename "$deb")\",\"sha256\":\"$sha\"},"
done
pkg_json="${pkg_json%,}]"

# --- iptables: Debian's source package (the version of its binary package here), built static against musl ----------
# The source comes through apt like the packages above: a private sources list (deb-src lines for the Debian suites
# this machine's apt already uses) and its own lists under .cache, so the machine's apt setup is left as it is. apt
# checks the files against the signed index; dpkg-source checks the tarballs against the .dsc, whose sha256 is in the
# manifest.
ipt_version=$(apt-cache policy iptables | awk '/Candidate:/ {print $2}')
[ -n "$ipt_version" ] && [ "$ipt_version" != "(none)" ] || { echo "build:vm: Debian has no candidate for iptables" >&2; exit 1; }
ipt_src_version=$(apt-cache show "iptables=$ipt_version" | sed -n 's/^Source: iptables (\(.*\))$/\1/p' | head -n1)
ipt_src_version=${ipt_src_version:-$ipt_version}
dsc=$cache/src/iptables_${ipt_src_version#*:}.dsc
if [ ! -f "$dsc" ]; then
	log "downloading the iptables $ipt_src_version source package"
	aptsrc=$cache/apt-src
	mkdir -p "$aptsrc/lists/partial" "$cache/src"
	# shellcheck disable=SC2016 # apt's own format fields, not shell variables
	apt-get indextargets --format '$(ORIGIN) $(REPO_URI) $(RELEASE)' 'Created-By: Packages' | sort -u |
		awk '$1 == "Debian" { print "deb-src " $2 " " $3 " main" }' >"$aptsrc/sources.list"
	[ -s "$aptsrc/sources.list" ] || { echo "build:vm: this machine's apt has no Debian suite to take iptables' source from" >&2; exit 1; }
	aptopts=(-o Dir::Etc::SourceList="$aptsrc/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$aptsrc/lists")
	apt-get -q "${aptopts[@]}" update >/dev/null
	(cd "$cache/src" && apt-get -q "${aptopts[@]}" source --download-only "iptables=$ipt_src_version" >/dev/null)
fi
dsc_sha=$(sha256sum "$dsc" | cut -d' ' -f1)
ipt=$build/iptables
if [ "$(cat "$ipt/.drydock-source" 2>/dev/null)" != "$dsc_sha" ]; then
	log "building iptables $ipt_src_version (static, musl)"
	rm -rf "$ipt"
	# --no-check: the .dsc came through apt, checked against the signed index (dpkg-source has no keyring for it).
	dpkg-source --no-check --no-copy -x "$dsc" "$ipt" >/dev/null
	mkdir -p "$build/agent/kinc"
	for d in linux asm asm-generic; do ln -sfn "/usr/i686-linux-gnu/include/$d" "$build/agent/kinc/$d"; done
	# Legacy x_tables only (no nft, no IPv6: the guest has neither); only the extensions the guest's kernel has
	# (kernel/drydock.config: tcp, udp, icmp, the NAT targets, addrtype, conntrack/state), linked into the binary.
	(cd "$ipt" && ./configure -q --host=i686-linux-gnu \
		CC="i686-linux-gnu-gcc -specs /usr/lib/i386-linux-musl/musl-gcc.specs" \
		CPPFLAGS="-idirafter $build/agent/kinc" CFLAGS="-Os -ffile-prefix-map=$ipt=." PKG_CONFIG=/bin/false \
		--enable-static --disable-shared --disable-nftables --disable-ipv6 --disable-connlabel --disable-largefile \
		--prefix=/usr --sbindir=/sbin >/dev/null &&
		make -s -j"$(nproc)" LDFLAGS=-all-static pfx_build_mod="standard tcp udp NAT addrtype conntrack" \
			pf4_build_mod=icmp >/dev/null 2>&1)
	i686-linux-gnu-strip -o "$ipt/xtables-legacy-multi" "$ipt/iptables/xtables-legacy-multi"
	echo "$dsc_sha" >"$ipt/.drydock-source"
fi
src_json="[{\"name\":\"iptables\",\"version\":\"$ipt_src_version\",\"dsc\":\"$(basename "$dsc")\",\"sha256\":\"$dsc_sha\"}]"

# --- kernel source ----------------------------------------------------------------------------------------------
src=$build/linux
src_sha=$(cat "$build/pkgs/linux-source-6.1.sha256")
if [ "$(cat "$src/.drydock-source" 2>/dev/null)" != "$src_sha" ]; then
	log "unpacking the kernel source"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xf "$build/pkgs/linux-source-6.1/usr/src/linux-source-6.1.tar.xz" -C "$src" --strip-components=1
	echo "$src_sha" >"$src/.drydock-source"
fi

# --- the guest agent (also the guest's docker and curl): static i386 against musl, with the kernel's uapi headers -
log "compiling drydockd"
mkdir -p "$build/agent/kinc"
for d in linux asm asm-generic; do ln -sfn "/usr/i686-linux-gnu/include/$d" "$build/agent/kinc/$d"; done
i686-linux-gnu-gcc -specs /usr/lib/i386-linux-musl/musl-gcc.specs -static -Os -s -std=gnu11 -Wall -Wextra -Werror \
	-Wno-unused-parameter -ffile-prefix-map="$here"=. -idirafter "$build/agent/kinc" \
	"$here"/agent/*.c -o "$build/agent/drydockd"

# Files go into the cpio with their mtimes: pin them, or every build makes a different kernel.
mkdir -p "$build/rootfs"
cp "$here"/rootfs/* "$build/rootfs/"
touch -h -d "2026-01-01 00:00:00 UTC" "$build/agent/drydockd" "$build/rootfs"/* "$build/pkgs/busybox-static/bin/busybox" \
	"$ipt/xtables-legacy-multi"

# --- initramfs list ---------------------------------------------------------------------------------------------
busybox=$build/pkgs/busybox-static/bin/busybox
{
	sed -e "s|@BUSYBOX@|$busybox|" -e "s|@ROOTFS@|$build/rootfs|" -e "s|@AGENT@|$build/agent/drydockd|" \
		-e "s|@IPTABLES@|$ipt/xtables-legacy-multi|" \
		"$here/rootfs/initramfs.list"
	# The applet list comes from the binary itself (a static i386 program runs on an x86-64 build machine).
	"$busybox" --list-full | sort | while read -r applet; do
		[ "$applet" = bin/busybox ] || echo "slink /$applet /bin/busybox 0777 0 0"
	done
} >"$build/initramfs.list"

# --- configure --------------------------------------------------------------------------------------------------
export KBUILD_BUILD_TIMESTAMP="2026-01-01 00:00:00 UTC" KBUILD_BUILD_USER=drydock KBUILD_BUILD_HOST=drydock \
	KBUILD_BUILD_VERSION=1
kmake() { make -C "$src" ARCH=i386 -j"$(nproc)" "$@"; }
log "configuring: tinyconfig + kernel/drydock.config"
kmake -s tinyconfig >/dev/null
{
	cat "$here/kernel/drydock.config"
	# Relative to the kernel tree (kbuild runs gen_initramfs.sh there), so kernel.config is the same in any checkout.
	echo "CONFIG_INITRAMFS_SOURCE=\"../initramfs.list\""
} >"$build/fragment.config"
(cd "$src" && ARCH=i386 scripts/kconfig/merge_config.sh -m .config "$build/fragment.config" >/dev/null)
kmake -s olddefconfig >/dev/null
# olddefconfig silently drops options whose dependencies are unmet: refuse to build such a kernel.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qxF "$line" "$src/.config" || { echo "build:vm: $line was dropped by olddefconfig" >&2; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" "$src/.config"; then echo "build:vm: $opt should be unset" >&2; bad=1; fi ;;
	esac
done <"$build/fragment.config"
[ "$bad" = 0 ] || exit 1

# --- compile ----------------------------------------------------------------------------------------------------
log "compiling the kernel (a few minutes on 2 cores)"
kmake -s bzImage

# --- outputs ----------------------------------------------------------------------------------------------------
mkdir -p "$dist/licenses"
cp "$src/arch/x86/boot/bzImage" "$dist/bzImage"
cp "$build/pkgs/seabios/usr/share/seabios/bios.bin" "$dist/seabios.bin"
cp "$build/pkgs/seabios/usr/share/seabios/vgabios-stdvga.bin" "$dist/vgabios.bin"
cp "$build/pkgs/seabios/usr/share/doc/seabios/copyright" "$dist/licenses/seabios.copyright"
cp "$build/pkgs/busybox-static/usr/share/doc/busybox-static/copyright" "$dist/licenses/busybox.copyright"
cp "$ipt/debian/copyright" "$dist/licenses/iptables.copyright"
cp "$src/COPYING" "$dist/licenses/linux.COPYING"
cp "$src/.config" "$dist/kernel.config"

log "writing dist/manifest.json"
cd "$root"
DRYDOCK_PACKAGES="$pkg_json" DRYDOCK_SOURCES="$src_json" DRYDOCK_IPTABLES="$ipt/xtables-legacy-multi" \
	DRYDOCK_INITRAMFS="$src/usr/initramfs_data.cpio" DRYDOCK_AGENT="$build/agent/drydockd" \
	DRYDOCK_BUILD_SECONDS=$(($(date +%s) - started)) npx tsx vm-images/manifest.ts write
log "done in $(($(date +%s) - started)) s: $(du -b "$dist/bzImage" | cut -f1) bytes of bzImage"

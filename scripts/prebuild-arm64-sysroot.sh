#!/usr/bin/env bash
# Unpacks Debian's arm64 Node.js (nodejs:arm64 and every library it needs) into
# a directory, so that qemu-user can run it on an x64 machine and load the
# arm64 prebuild:
#
#   scripts/prebuild-arm64-sysroot.sh [DIR]        (default /tmp/netfwd-arm64-sysroot)
#   qemu-aarch64 -L DIR DIR/usr/bin/node -e "require('./prebuilds/linux-arm64/netfwd.glibc.node')"
#
# The host's apt and dpkg state stay as they are: apt runs with its own
# architecture (arm64), package lists, cache and an empty "installed" list in
# DIR/.apt, so it downloads the whole dependency closure, which dpkg-deb -x
# then unpacks into DIR (no maintainer scripts run, no root needed). Debian 12
# ships Node.js 18: older than netfwd supports, but with Node-API 9, so it
# loads the addon (built for Node-API 8) and speaks netlink through it.
set -euo pipefail

dir=${1:-${NETFWD_ARM64_SYSROOT:-/tmp/netfwd-arm64-sysroot}}
if [ -x "$dir/usr/bin/node" ] && [ -f "$dir/.complete" ]; then
  echo "arm64 sysroot: $dir is ready"
  exit 0
fi

mkdir -p "$dir/.apt/lists/partial" "$dir/.apt/cache/archives/partial" "$dir/.apt/debs"
: > "$dir/.apt/status"
apt_opts=(
  -o APT::Architecture=arm64
  -o APT::Architectures::=arm64
  -o Dir::State="$dir/.apt"
  -o Dir::State::Lists="$dir/.apt/lists"
  -o Dir::State::status="$dir/.apt/status"
  -o Dir::Cache="$dir/.apt/cache"
  -o Debug::NoLocking=1
  -o APT::Install-Recommends=false
  -o APT::Get::AllowUnauthenticated=false
)

echo "arm64 sysroot: package lists"
apt-get "${apt_opts[@]}" -qq update
echo "arm64 sysroot: downloading nodejs:arm64 and its dependencies"
apt-get "${apt_opts[@]}" -qq -y --download-only install nodejs >/dev/null
debs=("$dir"/.apt/cache/archives/*.deb)
[ -e "${debs[0]}" ] || { echo "arm64 sysroot: apt downloaded nothing" >&2; exit 1; }
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$dir"
done
[ -x "$dir/usr/bin/node" ] || { echo "arm64 sysroot: no usr/bin/node after unpacking" >&2; exit 1; }
# Debian's merged /usr: the arm64 loader is looked up as /lib/ld-linux-aarch64.so.1.
[ -e "$dir/lib" ] || ln -s usr/lib "$dir/lib"
rm -rf "$dir/.apt/cache/archives" "$dir/.apt/lists"
touch "$dir/.complete"
echo "arm64 sysroot: $dir (${#debs[@]} packages unpacked)"

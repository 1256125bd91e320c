#!/usr/bin/env bash
# Builds the prebuilt addons that the npm package ships, so that installing it
# needs no compiler:
#
#   prebuilds/linux-x64/netfwd.glibc.node     (this machine's compiler)
#   prebuilds/linux-arm64/netfwd.glibc.node   (Debian's g++-aarch64-linux-gnu)
#
# Usage: scripts/prebuild.sh [--force] [x64] [arm64]
#        (default: $NETFWD_PREBUILD_ARCHES, or both)
#
# node-gyp-build picks them by directory (platform-arch) and file name tags:
# built with --napi, the name carries no ABI tag, so one file serves every
# Node.js version with Node-API 8; "glibc" makes a musl system skip it (and
# `npm install` build from source there instead).
#
# The build runs in a scratch copy of binding.gyp and native/, never in this
# checkout's build/: build/Release/netfwd.node is what tests and `npm run
# build` use, and node-gyp-build prefers it over prebuilds/ when it exists.
# An architecture whose .node is newer than every native source is skipped
# (--force rebuilds). Runs as `npm run build:prebuilds` and on `npm pack`
# (prepack).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
force=0
arches=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    x64 | arm64) arches+=("$arg") ;;
    *) echo "prebuild: unknown argument '$arg' (expected --force, x64, arm64)" >&2; exit 2 ;;
  esac
done
# NETFWD_PREBUILD_ARCHES="x64" packs without the cross compiler (no arm64 prebuild).
[ ${#arches[@]} -gt 0 ] || read -r -a arches <<< "${NETFWD_PREBUILD_ARCHES:-x64 arm64}"

host_arch=$(node -p process.arch)
[ "$host_arch" = x64 ] || [ "$host_arch" = arm64 ] || {
  echo "prebuild: unsupported build machine architecture $host_arch" >&2; exit 1; }

# node-gyp needs the Node.js headers. Under npm, npm_config_nodedir comes from
# npm's configuration; run directly, use the headers installed next to node
# (Debian's nodejs and the official tarballs both ship include/node). They are
# the same for every architecture.
if [ -z "${npm_config_nodedir:-}" ]; then
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [ -f "$prefix/include/node/node_api.h" ]; then
    export npm_config_nodedir="$prefix"
  fi
fi

prebuildify="$root/node_modules/.bin/prebuildify"
[ -x "$prebuildify" ] || { echo "prebuild: $prebuildify is missing: run npm ci first" >&2; exit 1; }

sources=("$root/binding.gyp" "$root"/native/*)

up_to_date() {
  local out=$1 src
  [ -f "$out" ] || return 1
  for src in "${sources[@]}"; do
    [ "$src" -nt "$out" ] && return 1
  done
  return 0
}

scratch=$(mktemp -d /tmp/netfwd-prebuild.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

for arch in "${arches[@]}"; do
  name=netfwd.glibc.node
  dest="$root/prebuilds/linux-$arch"
  if [ "$force" = 0 ] && up_to_date "$dest/$name"; then
    echo "prebuild: prebuilds/linux-$arch/$name is up to date"
    continue
  fi

  work="$scratch/$arch"
  mkdir -p "$work"
  cp "$root/package.json" "$root/binding.gyp" "$work/"
  cp -r "$root/native" "$work/native"
  # binding.gyp asks node-addon-api for its include directory, from the build directory.
  ln -s "$root/node_modules" "$work/node_modules"

  env=()
  strip_bin=strip
  if [ "$arch" != "$host_arch" ]; then
    case "$arch" in
      arm64) triple=aarch64-linux-gnu ;;
      x64) triple=x86_64-linux-gnu ;;
    esac
    command -v "$triple-g++" >/dev/null || {
      echo "prebuild: $triple-g++ not found: install Debian's g++-$triple (or build only: scripts/prebuild.sh $host_arch)" >&2
      exit 1
    }
    env=(CC="$triple-gcc" CXX="$triple-g++" LINK="$triple-g++" AR="$triple-ar")
    strip_bin="$triple-strip"
  fi

  echo "prebuild: building linux-$arch"
  (cd "$work" && env "${env[@]}" "$prebuildify" --napi --strip --strip-bin "$strip_bin" \
    --tag-libc --arch "$arch" --platform linux --cache "$scratch/devdir" --out "$work")

  built="$work/prebuilds/linux-$arch/$name"
  [ -f "$built" ] || { echo "prebuild: $built was not produced" >&2; ls -R "$work/prebuilds" >&2; exit 1; }
  # Replace atomically: a process loading the old file keeps its copy.
  mkdir -p "$dest"
  cp "$built" "$dest/.$name.tmp"
  mv -f "$dest/.$name.tmp" "$dest/$name"
  echo "prebuild: prebuilds/linux-$arch/$name ($(stat -c %s "$dest/$name") bytes)"
done

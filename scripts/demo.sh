#!/usr/bin/env bash
# `npm run demo`: get this machine ready for the netfwd demo, then run it.
#
#   1. root is needed (namespaces, netlink, nftables); without it the script asks sudo;
#   2. Debian packages, installed only when missing (docker.io only for --topology docker):
#        iproute2, nftables   `ip` and `nft`, to look at what netfwd builds
#                             (netfwd itself never runs them);
#        wireguard-go         only when the kernel has no WireGuard;
#        g++ make python3     only when the native addon has to be compiled;
#   3. npm ci (or npm install) when node_modules is missing;
#   4. npm run build when dist/ or the compiled addon is missing;
#   5. node dist/cli.js demo "$@"   (e.g. npm run demo -- --mode connmark).
#
# The demo works inside network namespaces of its own and removes them; this
# script never changes the host's network configuration. The WireGuard probe
# below runs in a scratch namespace that is deleted right away.
set -euo pipefail

cd "$(dirname "$0")/.."

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# -------------------------------------------------------------------- root
if [ "$(id -u)" -ne 0 ]; then
  # npm run as root hands scripts to the owner of the checkout, so this also
  # catches `sudo npm run demo` in a checkout that belongs to another user.
  if command -v sudo >/dev/null 2>&1; then
    say "netfwd needs root (network namespaces, netlink); asking sudo"
    exec sudo -- env "PATH=$PATH" bash "$0" "$@"
  fi
  die "run this as root (it needs network namespaces and netlink): sudo bash scripts/demo.sh"
fi

# ------------------------------------------------------------------ Node.js
command -v node >/dev/null 2>&1 || die "Node.js is missing: install Node.js 20.6 or newer (Debian 12's nodejs package, 18, is too old)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=6)?0:1)' ||
  die "Node.js $(node --version) is too old: netfwd needs 20.6 or newer"
command -v npm >/dev/null 2>&1 || die "npm is missing (it comes with Node.js)"

# ------------------------------------------------------------------ packages
have_apt=false
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then have_apt=true; fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_updated=false
apt_install() {
  # apt_install PACKAGE...: installs those not installed yet
  local missing=()
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  $have_apt || die "missing: ${missing[*]}; this is not a Debian system, install them yourself"
  if ! $apt_updated; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=true
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if $have_apt; then
  apt_install iproute2 nftables
  # `--topology docker` runs Docker Engine inside the backend's namespace: docker.io (with a
  # policy-rc.d that keeps its package scripts from starting a daemon in the machine's own namespace).
  case " $* " in
    *" --topology docker "* | *" --topology=docker "*)
      if ! installed docker.io; then
        made_policy=false
        if [ ! -e /usr/sbin/policy-rc.d ]; then
          printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=true
        fi
        apt_install docker.io
        # Only for the install: afterwards the machine's services start as they did before.
        if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi
      fi
      ;;
  esac
else
  for c in ip nft; do command -v "$c" >/dev/null 2>&1 || say "note: $c is not installed (only needed to inspect the result)"; done
fi

# Does the kernel have WireGuard? Loaded or built in: /sys/module/wireguard.
# Otherwise try to create a WireGuard link in a scratch namespace (the kernel
# loads the module on demand) and delete the namespace again.
kernel_wireguard() {
  [ -d /sys/module/wireguard ] && return 0
  if command -v ip >/dev/null 2>&1; then
    local ns="netfwd-demo-probe-$$"
    ip netns add "$ns" 2>/dev/null || return 1
    local ok=1
    ip -n "$ns" link add wgprobe type wireguard 2>/dev/null && ok=0
    ip netns del "$ns" 2>/dev/null || true
    return $ok
  fi
  command -v modinfo >/dev/null 2>&1 && modinfo wireguard >/dev/null 2>&1
}

if kernel_wireguard; then
  say "the kernel has WireGuard"
elif command -v wireguard-go >/dev/null 2>&1; then
  say "the kernel has no WireGuard: the demo uses $(command -v wireguard-go)"
else
  say "the kernel has no WireGuard: installing the userspace implementation"
  apt_install wireguard-go
fi

# ----------------------------------------------------------- build netfwd
addon_present() { node -e 'require("node-gyp-build").resolve(process.cwd())' >/dev/null 2>&1; }
need_compiler() {
  # The addon is compiled (node-gyp) unless a prebuilt binary is present.
  if [ -d node_modules ] && addon_present; then return 1; fi
  for c in g++ make python3; do command -v "$c" >/dev/null 2>&1 || return 0; done
  return 1
}
if need_compiler; then
  if $have_apt; then apt_install g++ make python3; else die "compiling the addon needs g++, make and python3"; fi
fi

if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then
    say "npm ci"
    npm ci --no-audit --no-fund
  else
    say "npm install"
    npm install --no-audit --no-fund
  fi
fi

if [ ! -f dist/cli.js ] || ! addon_present; then
  say "npm run build"
  npm run build
fi

# --------------------------------------------------------------------- demo
exec node dist/cli.js demo "$@"

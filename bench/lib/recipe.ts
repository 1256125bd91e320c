/**
 * The seeds' shell recipe (reference seeds 000 and 002), translated from
 * NetworkManager and iptables to the commands a person types: one `ip`, `wg`,
 * `nft` or `sysctl` process per step, for the frontend and the backend of the
 * bring-up case. It ends in the same state netfwd makes for the same spec:
 * the WireGuard tunnel (wireguard-go), its address, forwarding, DNAT of the
 * public ports, masquerade of the tunnel subnet, MSS clamping, on the backend
 * table 5000 with the tunnel default and the leak guard, the uid rule, and
 * the services closed to every interface but the tunnel.
 */
export interface RecipeParams {
  frontendNs: string;
  backendNs: string;
  frontendIf: string;
  backendIf: string;
  /** Files holding the keys as wg genkey/genpsk print them. */
  frontendKeyFile: string;
  backendKeyFile: string;
  pskFile: string;
  frontendPublicKey: string;
  backendPublicKey: string;
  publicAddress: string;
  publicTcp: number;
  serviceTcp: number;
  udpPort: number;
}

export function recipeScript(p: RecipeParams): string {
  const F = `nsenter --net=/run/netns/${p.frontendNs}`;
  const B = `nsenter --net=/run/netns/${p.backendNs}`;
  return `#!/bin/bash
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# ---- frontend (the VPS)
${F} wireguard-go ${p.frontendIf}
${F} wg set ${p.frontendIf} private-key ${p.frontendKeyFile} listen-port 51820 peer ${p.backendPublicKey} preshared-key ${p.pskFile} allowed-ips 10.0.0.2/32
ip -n ${p.frontendNs} address add 10.0.0.1/24 dev ${p.frontendIf}
ip -n ${p.frontendNs} link set ${p.frontendIf} up
${F} sysctl -q -w net.ipv4.ip_forward=1
${F} nft add table ip nat
${F} nft add chain ip nat prerouting '{ type nat hook prerouting priority dstnat; policy accept; }'
${F} nft add rule ip nat prerouting ip daddr ${p.publicAddress} tcp dport ${p.publicTcp} dnat to 10.0.0.2:${p.serviceTcp}
${F} nft add rule ip nat prerouting ip daddr ${p.publicAddress} udp dport ${p.udpPort} dnat to 10.0.0.2:${p.udpPort}
${F} nft add chain ip nat postrouting '{ type nat hook postrouting priority srcnat; policy accept; }'
${F} nft add chain ip nat wireguard_prt
${F} nft add rule ip nat postrouting jump wireguard_prt
${F} nft add rule ip nat wireguard_prt ip saddr 10.0.0.0/24 ip daddr 224.0.0.0/24 return
${F} nft add rule ip nat wireguard_prt ip saddr 10.0.0.0/24 ip daddr 255.255.255.255 return
${F} nft add rule ip nat wireguard_prt ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 meta l4proto tcp masquerade to :1024-65535
${F} nft add rule ip nat wireguard_prt ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 meta l4proto udp masquerade to :1024-65535
${F} nft add rule ip nat wireguard_prt ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 masquerade
${F} nft add table ip filter
${F} nft add chain ip filter forward '{ type filter hook forward priority filter; policy accept; }'
${F} nft add rule ip filter forward oifname ${p.frontendIf} tcp flags syn tcp option maxseg size set rt mtu
${F} nft add rule ip filter forward iifname ${p.frontendIf} tcp flags syn tcp option maxseg size set rt mtu
# ---- backend (home)
${B} wireguard-go ${p.backendIf}
${B} wg set ${p.backendIf} private-key ${p.backendKeyFile} peer ${p.frontendPublicKey} preshared-key ${p.pskFile} endpoint ${p.publicAddress}:51820 persistent-keepalive 25 allowed-ips 0.0.0.0/0
ip -n ${p.backendNs} address add 10.0.0.2/24 dev ${p.backendIf}
ip -n ${p.backendNs} link set ${p.backendIf} up
ip -n ${p.backendNs} route add default via 10.0.0.1 dev ${p.backendIf} table 5000 metric 100
ip -n ${p.backendNs} route add unreachable default table 5000 metric 4294967295
ip -n ${p.backendNs} rule add priority 100 uidrange 1000-1000 table 5000
${B} nft add table inet services
${B} nft add chain inet services input '{ type filter hook input priority filter; policy accept; }'
${B} nft add rule inet services input iifname ${p.backendIf} return
${B} nft add rule inet services input iifname lo return
${B} nft add rule inet services input meta l4proto . th dport '{ tcp . ${p.serviceTcp}, udp . ${p.udpPort} }' drop
${B} nft add chain inet services leakguard '{ type filter hook postrouting priority filter; policy accept; }'
${B} nft add rule inet services leakguard oifname ${p.backendIf} return
${B} nft add rule inet services leakguard oifname lo return
${B} nft add rule inet services leakguard meta l4proto . th sport '{ tcp . ${p.serviceTcp}, udp . ${p.udpPort} }' drop
`;
}

/** Process count of the recipe (each line that is not a comment runs one tool). */
export function recipeSteps(script: string): number {
  return script.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('set ')).length;
}

/**
 * over 500 lines: the whole spec, types with their documentation, in one place (docs/api.md and the config reference are made from it).
 *
 * The ServiceForward spec: what a caller writes, in TypeScript or in the
 * CLI's YAML/JSON file (the same shape). `validateSpec` checks it and turns it
 * into a NormalizedConfig (see normalized-config.ts); docs/config-reference.md is the
 * operator's version of this file.
 *
 * Conventions: addresses and CIDRs are strings; a port is a number or the
 * text "FROM-TO" (inclusive); a key is the base64 text `wg genkey` prints
 * (44 characters ending in '='). Unknown fields are errors.
 *
 * over 500 lines: reason — the whole spec in one file, the operator's reference next to it.
 */
import type { Secret } from './secret.js';

/** A port (1..65535), the same as text, or an inclusive range "FROM-TO" such as "8000-8100". */
export type PortSpec = number | `${number}` | `${number}-${number}`;

/** Which transport a forward or service is for; 'tcp+udp' means both (one entry each after normalisation). */
export type ProtocolSpec = 'tcp' | 'udp' | 'tcp+udp';

/** A WireGuard key: base64 text of 32 bytes, or a Secret holding that text. */
export type KeyText = string | Secret;

/**
 * The machine's own WireGuard private key: inline, or from a file (exactly one
 * of the two). A relative file path is resolved against the configuration
 * file's directory (the current directory when the spec comes from code).
 * The file holds the key as `wg genkey` writes it (white space around it is
 * ignored). The CLI refuses key files that group or others may access.
 */
export type PrivateKeySource =
  | {
      /** The private key itself (base64). Prefer privateKeyFile in configuration files. */
      privateKey: KeyText;
      privateKeyFile?: undefined;
    }
  | {
      /** Path of a file holding the private key (mode 0600). */
      privateKeyFile: string;
      privateKey?: undefined;
    };

/**
 * An optional preshared key shared by the two ends of one tunnel (`wg genpsk`):
 * inline or from a file, not both. Default: none.
 */
export type PresharedKeySource =
  | {
      /** The preshared key itself (base64). */
      presharedKey?: KeyText;
      presharedKeyFile?: undefined;
    }
  | {
      /** Path of a file holding the preshared key (mode 0600). */
      presharedKeyFile: string;
      presharedKey?: undefined;
    };

// ---------------------------------------------------------------- frontend

/** One backend allowed to connect to a frontend. */
export type FrontendPeerSpec = {
  /**
   * The name forwards use to point at this peer: 1..32 characters from
   * letters, digits, '.', '_' and '-', starting with a letter or digit; unique.
   */
  name: string;
  /** The backend's public key (`wg pubkey`); unique among the peers. Required unless the tunnel is external (then not allowed). */
  publicKey?: string;
  /**
   * The backend's tunnel addresses: one or two host addresses (at most one per
   * family), each inside the frontend's tunnel subnet of that family, e.g.
   * `['10.0.0.2', 'fd00::2']` (a `/32` or `/128` suffix is accepted). These are
   * the DNAT targets and the peer's allowed IPs.
   */
  addresses: string[];
  /**
   * Networks behind this peer (a LAN, a container network), e.g.
   * `['198.51.100.128/25', '2001:db8:100::/64']`: routed into the tunnel
   * and added to the peer's allowed IPs, so forwards may name a host in them
   * (`to.address`). Network CIDRs of the tunnel's families; no two peers'
   * routes may overlap, nor the tunnel subnet. Default: none.
   */
  routes?: string[];
} & PresharedKeySource;

/**
 * A peer of a tunnel netfwd does not own (`tunnel.external`): no keys, only
 * the addresses (and networks) that are reached through it.
 */
export interface ExternalFrontendPeerSpec {
  /** As FrontendPeerSpec.name. */
  name: string;
  /** The peer's address(es) on the tunnel, as FrontendPeerSpec.addresses. */
  addresses: string[];
  /** As FrontendPeerSpec.routes. */
  routes?: string[];
}

/**
 * A tunnel interface that something else creates and configures (OpenVPN,
 * wg-quick, NetworkManager): netfwd neither creates, configures nor deletes
 * it, and does not add its addresses; everything else (forwards, return
 * path, leak guard, status, drift repair) works on it. `netfwd up` needs the
 * interface to exist; `netfwd run` waits for it and reapplies when it comes
 * back.
 */
export interface ExternalTunnelBase {
  /** The existing interface's name, e.g. 'tun0'. */
  interface: string;
  external: true;
  /**
   * The addresses the interface has (or will have) with their prefix length,
   * e.g. `['10.0.0.1/24']`. netfwd does not add them; it uses them for its
   * rules and routes, and `status` reports when they are missing.
   */
  addresses: string[];
}

/** A frontend's tunnel that netfwd does not own. */
export interface ExternalFrontendTunnelSpec extends ExternalTunnelBase {
  /** The backends reached through it. */
  peers: ExternalFrontendPeerSpec[];
}

/** A backend's tunnel that netfwd does not own (no peer: the frontend is whatever the interface leads to). */
export type ExternalBackendTunnelSpec = ExternalTunnelBase;

/**
 * The frontend's tunnel: a WireGuard interface netfwd creates and configures,
 * or (`external: true`) one it does not own — then without listenPort and
 * keys, and the peers without keys (see ExternalFrontendTunnelSpec).
 */
export type FrontendTunnelSpec = {
  /** The interface is not netfwd's (see ExternalTunnelBase). Default: false. */
  external?: boolean;
  /** Interface name: 1..15 bytes, no '/', ':' or white space; e.g. 'wg0'. */
  interface: string;
  /**
   * The frontend's own tunnel addresses with their prefix length: one IPv4
   * and/or one IPv6, e.g. `['10.0.0.1/24', 'fd00::1/64']`. The prefix is the
   * tunnel subnet that the peers' addresses must lie in. The families given
   * here are the families netfwd sets up.
   */
  addresses: string[];
  /** UDP port WireGuard listens on (1..65535); the backends' `endpoint` port. Required unless external. */
  listenPort?: number;
  /** The backends (at least one). */
  peers: FrontendPeerSpec[];
} & OptionalPrivateKeySource;

/** A private key source, required unless the tunnel is external (then none is allowed). */
export type OptionalPrivateKeySource = PrivateKeySource | { privateKey?: undefined; privateKeyFile?: undefined };

/** Where the public traffic arrives on the frontend. */
export interface PublicSpec {
  /**
   * The frontend's public addresses that forwards listen on (DNAT matches these
   * destination addresses). Plain IP addresses, one or more, each of a family
   * the tunnel has. Default: any local address of the family — every address
   * the frontend owns, including ones added later.
   */
  addresses?: string[];
  /**
   * The uplink interface. When given, DNAT only matches packets arriving on it
   * and masquerading only applies to packets leaving by it. Default: any
   * interface except the tunnel.
   */
  interface?: string;
}

/** Where a forward sends its connections. */
export interface ForwardTargetSpec {
  /**
   * The `name` of one of `tunnel.peers`: the connections go to its tunnel
   * address(es). Optional when `address` is given (the peer whose routes
   * hold it).
   */
  peer?: string;
  /**
   * A host behind the peer instead of the peer itself: an address inside one
   * of its `routes` (a LAN host, a container), or one per family, e.g.
   * `['198.51.100.131', '2001:db8:100::3']`. The forward is set up for the
   * families of these addresses.
   */
  address?: string | string[];
  /**
   * The port on the backend; a range must be as long as the public range and
   * maps port by port (80-81 → 8080-8081). Default: the public port(s).
   */
  port?: PortSpec;
}

/**
 * How `netfwd run` checks a forward's targets besides the WireGuard
 * handshake (a target is healthy while its peer's last handshake is younger
 * than the supervisor's `peerUpSeconds`, 180 s by default, and the last
 * check succeeded). The check runs from the frontend's namespace to each
 * target's address (of the first family the forward has). TCP: healthy when
 * the connection opens (refused, a timeout or unreachable: down). UDP: a
 * datagram is sent; down on an ICMP port unreachable (refused), a host or
 * network unreachable or an error, healthy on an answer or silence (many
 * UDP services ignore a stray datagram). `netfwd up` runs no checks.
 */
export interface ForwardCheckSpec {
  /** 'tcp' or 'udp'. Default: the forward's protocol ('tcp' for 'tcp+udp'). */
  protocol?: 'tcp' | 'udp';
  /** The port checked on every target (1..65535). Default: each target's own port (the first of a range). */
  port?: number;
  /** Seconds between two checks of a target (1..3600). Default: 10. */
  intervalSeconds?: number;
  /** How long one check may take, in milliseconds (50..60000, at most the interval). Default: 2000 (or the interval, when shorter). */
  timeoutMs?: number;
}

/** How a forward with several targets picks one (ForwardSpec.balance). */
export type BalanceSpec = 'failover' | 'hash';

/** One public port (or range) DNATed to a backend. */
export interface ForwardSpec {
  /** 'tcp', 'udp', or 'tcp+udp' for both. */
  protocol: ProtocolSpec;
  /** The public port or range, e.g. 9735 or "60000-60100". */
  port: PortSpec;
  /**
   * Only this public address (one of `public.addresses` when that list is
   * given). Default: all public addresses of the families both the public
   * side and the peer have.
   */
  address?: string;
  /**
   * The backend and port to send to, or a list of them (at most 12, no two
   * alike): several peers, or hosts behind them, that `balance` chooses
   * between. Every target must have an address of each family the forward
   * is set up for (those of the first target that the public side has).
   */
  to: ForwardTargetSpec | ForwardTargetSpec[];
  /**
   * With several targets: 'failover' sends new connections to the first
   * healthy target in the list; 'hash' spreads clients by their source
   * address (a Jenkins hash into 12 buckets, each bucket a target), so a
   * client keeps its target; a target that is down gives its buckets to the
   * healthy ones and gets them back when it is up again. When every target is
   * down, failover sends to the first and hash to each bucket's own target.
   * Health comes from `netfwd run` (see `check`); a change rewrites only the
   * forward's map elements, so existing connections keep their target.
   * `netfwd up` keeps the targets the kernel has where they are still in
   * the list. Without several targets it changes nothing. Default: 'failover'.
   */
  balance?: BalanceSpec;
  /** An active check of the targets (see ForwardCheckSpec). Default: none (the handshake alone). */
  check?: ForwardCheckSpec;
}

/** The VPS side: receives public connections and DNATs them over the tunnel. */
export interface FrontendSpec {
  role: 'frontend';
  /** Network namespace name (as `ip netns` names them) to configure instead of the current one. */
  netns?: string;
  tunnel: FrontendTunnelSpec;
  /** The public side. Default: `{}` (any address, any interface). */
  public?: PublicSpec;
  /**
   * The forwarded ports. No two forwards of one protocol may share a public
   * port on the same public address. May be empty.
   */
  forwards: ForwardSpec[];
  /**
   * Also SNAT forwarded connections to the frontend's tunnel address, so the
   * backend needs no policy routing (pair with a backend in mode 'snat'). The
   * backend then sees the frontend's tunnel address instead of the client's.
   * Default: false.
   */
  sourceNat?: boolean;
  /**
   * Masquerade traffic from the tunnel subnet that leaves by another
   * interface: the backends' own outgoing connections leave with the
   * frontend's public address. Default: true.
   */
  masquerade?: boolean;
  /** Clamp the TCP MSS of forwarded connections to the route MTU (the tunnel's is smaller). Default: true. */
  mssClamp?: boolean;
  /**
   * Where the backends' own connections may go through this frontend (modes
   * uid and mark send the services' outgoing traffic this way). By default
   * they reach the internet by the uplink and nothing else: not this machine
   * (see tunnelPorts), not the networks its interfaces are connected to (the
   * VPS's own link included), not link-local addresses (169.254.0.0/16, such
   * as a cloud metadata service at 169.254.169.254; fe80::/10), not other
   * backends. Default: `{ enabled: true, allow: [] }`.
   */
  egress?: EgressSpec;
  /**
   * Ports of this frontend itself that the backends may reach through the
   * tunnel (on its tunnel addresses), e.g. a DNS resolver:
   * `[{ protocol: udp, port: 53 }]`. Everything else a backend sends to this
   * machine is refused (TCP with a reset, so a backend's check sees "refused"
   * rather than a timeout). Default: none.
   */
  tunnelPorts?: PortEntrySpec[];
}

/** The backends' own traffic through the frontend (FrontendSpec.egress). */
export interface EgressSpec {
  /**
   * Let the backends' own connections out by the uplink (masqueraded to the
   * frontend's address when `masquerade` is on). Off: only `allow` is
   * reachable. Default: true.
   */
  enabled?: boolean;
  /**
   * Destinations the backends may reach although they are refused by
   * default (a network the frontend is connected to, a link-local service):
   * CIDRs or single addresses of the tunnel's families, e.g.
   * `["192.168.10.0/24"]`. Default: none.
   */
  allow?: string[];
}

// ---------------------------------------------------------------- backend

/** The frontend, as the backend's only WireGuard peer. */
export type BackendPeerSpec = {
  /** The frontend's public key (`wg pubkey`). */
  publicKey: string;
  /**
   * The frontend's public address and WireGuard port: "203.0.113.1:51820",
   * "[2001:db8::1]:51820", or a host name, "vpn.example.org:51820". A name is
   * resolved each time the spec is applied, and `netfwd run` resolves it again
   * when the last handshake is older than its threshold (135 s by default).
   */
  endpoint: string;
  /** For an endpoint given as a host name: resolve it to an IPv4 (4) or IPv6 (6) address. Default: the resolver's first answer. */
  endpointFamily?: 4 | 6;
  /**
   * Seconds between keepalive packets (0..65535, 0 = off). A backend is
   * usually behind NAT, and the frontend can only reach it while the NAT
   * mapping lives. Default: 25.
   */
  persistentKeepalive?: number;
} & PresharedKeySource;

/**
 * The backend's tunnel: a WireGuard interface netfwd creates and configures,
 * or (`external: true`) one it does not own — then only interface and
 * addresses (see ExternalBackendTunnelSpec).
 */
export type BackendTunnelSpec = {
  /** The interface is not netfwd's (see ExternalTunnelBase). Default: false. */
  external?: boolean;
  /** Interface name: 1..15 bytes, no '/', ':' or white space; e.g. 'wg0'. */
  interface: string;
  /**
   * The backend's own tunnel addresses with prefix length: one IPv4 and/or one
   * IPv6, e.g. `['10.0.0.2/24', 'fd00::2/64']`. They must equal the addresses
   * the frontend lists for this peer.
   */
  addresses: string[];
  /** UDP port to listen on (1..65535). Default: a random port (the backend dials out). */
  listenPort?: number;
  /** The frontend. Required unless external (then not allowed). */
  peer?: BackendPeerSpec;
} & OptionalPrivateKeySource;

/** A uid (0..4294967294) or an inclusive range "FROM-TO" such as "1000-1001". */
export type UidSpec = number | `${number}` | `${number}-${number}`;

/** Options shared by the routed modes (uid, mark, connmark). */
export interface RoutedReturnPathOptions {
  /**
   * Routing table holding the default route into the tunnel: 1..4294967295
   * except the reserved 252 (compat), 253 (default), 254 (main) and 255
   * (local). Default: 5000.
   */
  table?: number;
  /**
   * Priority of the `ip rule` that selects the table for the connections that
   * arrived through the tunnel (and in mode mark the marked sockets): 1..32765.
   * Mode uid puts its uid ranges' rules at the next priority (so 1..32764
   * there). Default: 100.
   */
  priority?: number;
  /**
   * Put an unreachable default with the largest metric in the table, so that
   * selected traffic fails rather than leaving by the home gateway when the
   * tunnel is down. Default: true.
   */
  leakGuard?: boolean;
  /**
   * Destinations the selected traffic reaches directly instead of through the
   * tunnel (LAN ranges, a local bitcoind): network CIDRs of the tunnel's
   * families, e.g. `['192.168.1.0/24']`. Default: none.
   */
  exclude?: string[];
  /**
   * Source networks whose own outgoing connections are routed through the
   * tunnel too (`ip rule from`), e.g. a Docker network `['172.18.0.0/16']`
   * — any CIDR, the documentation ranges in tests. They are masqueraded to
   * the tunnel address, and fail (never take the home line) while the
   * tunnel is down. Destinations inside the sources themselves stay
   * direct. Default: none.
   */
  sources?: string[];
}

/**
 * mode 'uid': every socket of these users routes through the tunnel
 * (`ip rule uidrange`). Connections that arrive through the tunnel are
 * answered through it too, whichever user's socket (or the kernel itself:
 * resets, ICMP errors) answers: they carry a connection mark (`mark`).
 */
export interface UidReturnPathSpec extends RoutedReturnPathOptions {
  mode: 'uid';
  /** The users whose traffic uses the tunnel (required, at least one): uids or ranges, e.g. `['1000-1001']`. */
  uids: UidSpec[];
  /** The connection mark (and fwmark) of connections that arrived through the tunnel (1..4294967295). Default: the table number. */
  mark?: number;
}

/**
 * mode 'mark': packets are marked in an nftables `route` chain and
 * `ip rule fwmark` routes them. They are selected by socket uid (`uids`), by
 * cgroup v2 (`cgroup`, the cgroup and everything below it), or — when neither
 * is given — by the application setting the mark itself (SO_MARK), in which
 * case `mark` is required.
 */
export interface MarkReturnPathSpec extends RoutedReturnPathOptions {
  mode: 'mark';
  /** Select sockets of these users. */
  uids?: UidSpec[];
  /** Select sockets in this cgroup v2 path (relative to the cgroup2 mount), e.g. 'system.slice/lnd.service'. */
  cgroup?: string;
  /** The fwmark (1..4294967295). Default: the table number. Required when neither uids nor cgroup is given. */
  mark?: number;
}

/**
 * mode 'connmark': connections that arrive through the tunnel are marked and
 * their replies routed back into it; nothing else of the machine changes
 * (the services' own outgoing connections keep the normal gateway).
 */
export interface ConnmarkReturnPathSpec extends RoutedReturnPathOptions {
  mode: 'connmark';
  /** The connection mark and fwmark (1..4294967295). Default: the table number. */
  mark?: number;
}

/**
 * mode 'dscp': the tagged-routing recipe's LAN. The backend (the VPN client)
 * is not the gateway of the hosts its services live on: it tags what it
 * forwards to them with a DSCP value; the service host (role
 * `service-host`) tags its replies the same way, and the LAN's router (role
 * `lan-router`) sends tagged packets to the backend, which routes them back
 * into the tunnel by their connection mark. Otherwise as connmark.
 */
export interface DscpReturnPathSpec extends RoutedReturnPathOptions {
  mode: 'dscp';
  /** The DSCP value (1..63) that tags the forwarded connections. Default: 42. */
  dscp?: number;
  /** The connection mark and fwmark (1..4294967295). Default: the table number. */
  mark?: number;
}

/**
 * mode 'snat': the frontend SNATs forwarded connections to its tunnel address
 * (set `sourceNat: true` there), so replies return through the tunnel without
 * policy routing. The backend sees the frontend's tunnel address, not the
 * client's. No other option applies.
 */
export interface SnatReturnPathSpec {
  mode: 'snat';
}

/** How replies (and, in modes uid and mark, the services' own traffic) get back into the tunnel. */
export type ReturnPathSpec = UidReturnPathSpec | MarkReturnPathSpec | ConnmarkReturnPathSpec | DscpReturnPathSpec | SnatReturnPathSpec;

/** A port (or range) of one or both transports. */
export interface PortEntrySpec {
  /** 'tcp', 'udp', or 'tcp+udp'. */
  protocol: ProtocolSpec;
  /** Its port or range. */
  port: PortSpec;
}

/** A service reachable only through the tunnel (and loopback): on the backend itself, or on a host behind it. */
export interface ServiceSpec extends PortEntrySpec {
  /**
   * The service lives on another host (a LAN host, a container) that the
   * backend forwards to, not on the backend: its address, or one per family,
   * e.g. `['198.51.100.131', '2001:db8:100::3']`. The frontend's forward names
   * the same address (`to.address`). Replies come back by the return path:
   * connmark when the backend is that host's gateway, dscp on the recipe's
   * LAN, snat otherwise (the host then sees the backend's LAN address).
   * Default: the backend itself.
   */
  host?: string | string[];
}

/**
 * One of several tunnels (`BackendSpec.tunnels`), one frontend each: a
 * tunnel as BackendTunnelSpec, with its own routing table and connection
 * mark, and the frontend address `netfwd run` checks through it.
 */
export type SeveralBackendTunnelSpec = BackendTunnelSpec & {
  /**
   * The routing table that sends this tunnel's connections back into it
   * (routed modes). Default: returnPath.table + the tunnel's index (5000,
   * 5001, …). Distinct per tunnel.
   */
  table?: number;
  /**
   * The connection mark of the connections that arrive by this tunnel
   * (routed modes). Default: returnPath.mark + the tunnel's index; in mode
   * mark, whose own mark selects the services' sockets, returnPath.mark + 1
   * + the index. Distinct per tunnel.
   */
  mark?: number;
  /**
   * The frontend's own address in this tunnel, which `netfwd run` checks
   * through the tunnel (a TCP connect from this tunnel's address: refused or
   * open means the frontend is alive). Default: the first host of the
   * tunnel's first subnet (10.0.1.1 for 10.0.1.2/24).
   */
  checkAddress?: string;
};

/** The home side: dials the frontend(s) and sends replies back through them. */
export interface BackendSpec {
  role: 'backend';
  /** Network namespace name (as `ip netns` names them) to configure instead of the current one. */
  netns?: string;
  /** The tunnel to the one frontend. Exactly one of tunnel and tunnels. */
  tunnel?: BackendTunnelSpec;
  /**
   * Several frontends, all active (2 to 8 tunnels, one WireGuard interface
   * and peer each; their subnets must not overlap). A connection is answered
   * by the tunnel it came in by; the services' own traffic (modes uid and
   * mark, returnPath.sources) leaves by the first healthy tunnel in this
   * order, which `netfwd run` checks and changes (`up` alone keeps the one
   * in use, else the first). The rule priority after returnPath.priority is
   * used in every routed mode. The first tunnel's interface names the
   * configuration (state file, nftables table).
   */
  tunnels?: SeveralBackendTunnelSpec[];
  returnPath: ReturnPathSpec;
  /**
   * The services the frontend forwards to; they are closed to every interface
   * but the tunnel and loopback. From the tunnel, only these (and
   * `tunnelPorts`) are open. No two may overlap. May be empty.
   */
  services: ServiceSpec[];
  /**
   * More ports of this machine that the tunnel may reach besides the
   * services (e.g. SSH from the frontend). The frontend forwards nothing to
   * them; they are open to whoever can send into the tunnel (the frontend).
   * Default: none.
   */
  tunnelPorts?: PortEntrySpec[];
}

/** A whole spec: a frontend or a backend, told apart by `role`. */
export type ServiceForwardSpec = FrontendSpec | BackendSpec;

/** The return-path modes. */
export const RETURN_PATH_MODES = ['uid', 'mark', 'connmark', 'dscp', 'snat'] as const;
export type ReturnPathMode = (typeof RETURN_PATH_MODES)[number];

/** Defaults applied by validateSpec. */
export const DEFAULTS = {
  table: 5000,
  priority: 100,
  leakGuard: true,
  persistentKeepalive: 25,
  sourceNat: false,
  masquerade: true,
  mssClamp: true,
  egress: true,
  dscp: 42,
} as const;

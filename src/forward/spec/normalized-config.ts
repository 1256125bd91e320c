/**
 * The normalised configuration validateSpec returns: every default applied,
 * every address parsed and printed canonically, 'tcp+udp' split, ports as
 * ranges, keys wrapped in Secret. The planner consumes it without checking
 * anything again.
 */
import type { NumberRange, PortRange } from './ports.js';
import type { Secret } from './secret.js';

export type { NumberRange, PortRange } from './ports.js';

/** 4 or 6 (not called Family, which the netlink layer uses). */
export type IpFamily = 4 | 6;
/** A transport protocol after 'tcp+udp' is split. */
export type TransportProtocol = 'tcp' | 'udp';

/** An address on an interface, with its subnet. */
export interface InterfaceAddress {
  family: IpFamily;
  /** Canonical text, e.g. '10.0.0.1' or 'fd00::1'. */
  address: string;
  prefixLength: number;
  /** `address/prefixLength`, e.g. '10.0.0.1/24'. */
  cidr: string;
  /** The subnet, e.g. '10.0.0.0/24'. */
  network: string;
}

/** A single address. */
export interface HostAddress {
  family: IpFamily;
  /** Canonical text. */
  address: string;
}

/** A network prefix (host bits zero). */
export interface NetworkPrefix {
  family: IpFamily;
  /** The network address, canonical text. */
  address: string;
  prefixLength: number;
  /** e.g. '192.168.1.0/24'. */
  cidr: string;
}

/** Addresses by family; a family is present only when there is an address of it. */
export interface AddressByFamily {
  4?: string;
  6?: string;
}

/** A WireGuard endpoint. */
export interface Endpoint {
  family: IpFamily;
  /**
   * The IP address, canonical text (no brackets). For an endpoint given as a
   * host name, the name itself until it is resolved (resolveEndpoints).
   */
  host: string;
  port: number;
  /** 'host:port' or '[host]:port', as WireGuard's UAPI writes it. */
  text: string;
  /** The host name the spec gave (lower case, no trailing dot); resolved when the spec is applied. */
  hostname?: string;
  /** endpointFamily of the spec: the address family to resolve `hostname` to (default: the resolver's first answer). */
  preferFamily?: IpFamily;
}

interface NormalizedTunnelBase {
  interface: string;
  /**
   * The interface is not netfwd's (tunnel.external): it is neither created,
   * configured nor deleted, and its addresses are not added; there is no
   * key then.
   */
  external: boolean;
  /** At most one per family, IPv4 first. */
  addresses: InterfaceAddress[];
  /** Absent only on an external tunnel. */
  privateKey?: Secret;
  /** Absolute path of the file the private key came from, when it came from one. */
  privateKeyFile?: string;
  /** This machine's public key, derived from the private key (absent only on an external tunnel). */
  publicKey?: string;
}

export interface NormalizedFrontendPeer {
  name: string;
  /** Absent only on an external tunnel. */
  publicKey?: string;
  presharedKey?: Secret;
  presharedKeyFile?: string;
  /** The peer's tunnel addresses (at most one per family, IPv4 first). */
  addresses: HostAddress[];
  /** Same, by family. */
  addressByFamily: AddressByFamily;
  /** Networks behind the peer (routed into the tunnel), canonical, in spec order. */
  routes: NetworkPrefix[];
  /** WireGuard allowed IPs: the peer's addresses as /32 and /128, then its routes. */
  allowedIps: string[];
  /** Where it came from in the spec, e.g. 'tunnel.peers[1]'. */
  source: string;
}

export interface NormalizedFrontendTunnel extends NormalizedTunnelBase {
  /** Undefined only on an external tunnel. */
  listenPort: number | undefined;
  peers: NormalizedFrontendPeer[];
}

/** One target of a forward (`to`, or one item of its list). */
export interface NormalizedForwardTarget {
  /** The peer's name. */
  peer: string;
  /** The DNAT target per family; exactly the forward's `families`. */
  addresses: AddressByFamily;
  /** The target is a host behind the peer (`to.address`), not the peer itself. */
  behindPeer: boolean;
  /** Same length as the forward's publicPorts. */
  ports: PortRange;
  /** 'home', or 'home/198.51.100.131' for a host behind peer home (its first address). */
  name: string;
  /** Its health key (PlanHealth.downTargets): `${forward source} ${name}`, e.g. 'forwards[0] home'. */
  key: string;
  /** Where it came from, e.g. 'forwards[2].to[1]' ('forwards[2].to' for a single target). */
  source: string;
}

/** A forward's active health check (ForwardSpec.check), defaults applied. */
export interface NormalizedForwardCheck {
  protocol: TransportProtocol;
  /** Undefined: each target's own first port. */
  port: number | undefined;
  intervalSeconds: number;
  timeoutMs: number;
}

/** One forward for one protocol ('tcp+udp' in the spec gives two). */
export interface NormalizedForward {
  protocol: TransportProtocol;
  /** The public address it is limited to, or undefined for every public address (see NormalizedFrontend.public). */
  publicAddress?: HostAddress;
  publicPorts: PortRange;
  /** The first target's peer name (`peer`, `peerAddresses`, `behindPeer` and `targetPorts` describe targets[0]). */
  peer: string;
  /**
   * The DNAT target per family; exactly the families in `families`: the
   * peer's tunnel addresses, or the host behind it that `to.address` named.
   */
  peerAddresses: AddressByFamily;
  /** The target is a host behind the peer (`to.address`), not the peer itself. */
  behindPeer: boolean;
  /** Same length as publicPorts. */
  targetPorts: PortRange;
  /** The families this forward is set up for: public side ∩ peer (∩ publicAddress). Never empty. */
  families: IpFamily[];
  /** Where it came from, e.g. 'forwards[2]'. */
  source: string;
  /** Every target, in spec order (at least one; the first is the one above). */
  targets: NormalizedForwardTarget[];
  /** How a target is chosen (meaningful with two or more targets). */
  balance: 'failover' | 'hash';
  /** The active check `netfwd run` makes, when the spec asks for one. */
  check?: NormalizedForwardCheck;
}

export interface NormalizedFrontend {
  role: 'frontend';
  netns: string | undefined;
  /** The IP families in play: those of the tunnel addresses, ascending. */
  families: IpFamily[];
  tunnel: NormalizedFrontendTunnel;
  public: {
    /** Empty: DNAT matches any local destination address of the family (`fib daddr type local`). */
    addresses: HostAddress[];
    interface: string | undefined;
  };
  forwards: NormalizedForward[];
  sourceNat: boolean;
  masquerade: boolean;
  mssClamp: boolean;
  /** What the backends' own connections may reach through this frontend. */
  egress: {
    enabled: boolean;
    /** Destinations refused by default that are allowed anyway (host addresses as /32, /128). */
    allow: NetworkPrefix[];
  };
  /** Ports of this frontend the backends may reach through the tunnel. */
  tunnelPorts: NormalizedPortEntry[];
}

export interface NormalizedBackendPeer {
  publicKey: string;
  presharedKey?: Secret;
  presharedKeyFile?: string;
  endpoint: Endpoint;
  /** Seconds, 0 = off. */
  persistentKeepalive: number;
  /** '0.0.0.0/0' and/or '::/0': one per family of the tunnel. */
  allowedIps: string[];
}

export interface NormalizedBackendTunnel extends NormalizedTunnelBase {
  listenPort: number | undefined;
  /** Absent only on an external tunnel. */
  peer?: NormalizedBackendPeer;
  /**
   * Routed modes: the routing table that sends this tunnel's connections
   * back into it, and their connection mark (one tunnel: returnPath's table
   * and mark). Absent in mode snat.
   */
  table?: number;
  mark?: number;
  /** Several tunnels: the frontend's tunnel address `netfwd run` checks through this tunnel. */
  checkAddress?: HostAddress;
  /** Where it came from in the spec: 'tunnel' or 'tunnels[1]'. */
  source: string;
}

interface RoutedReturnPath {
  table: number;
  priority: number;
  leakGuard: boolean;
  /** Of either family: an exclusion of a family the tunnel lacks applies to that family's unreachable table. */
  exclude: NetworkPrefix[];
  /** Source networks whose own traffic goes through the tunnel (families of the tunnel). */
  sources: NetworkPrefix[];
}

export interface UidReturnPath extends RoutedReturnPath {
  mode: 'uid';
  /** Never empty, no two overlapping. */
  uids: NumberRange[];
  /** Connection mark (and fwmark) of the connections that arrive through the tunnel. */
  mark: number;
}

export interface MarkReturnPath extends RoutedReturnPath {
  mode: 'mark';
  /** May be empty (then cgroup or the application's own SO_MARK selects). */
  uids: NumberRange[];
  /** Without leading or trailing '/', e.g. 'system.slice/lnd.service'. */
  cgroup: string | undefined;
  mark: number;
}

export interface ConnmarkReturnPath extends RoutedReturnPath {
  mode: 'connmark';
  mark: number;
}

export interface DscpReturnPath extends RoutedReturnPath {
  mode: 'dscp';
  mark: number;
  /** 1..63. */
  dscp: number;
}

export interface SnatReturnPath {
  mode: 'snat';
}

export type NormalizedReturnPath = UidReturnPath | MarkReturnPath | ConnmarkReturnPath | DscpReturnPath | SnatReturnPath;

export interface NormalizedPortEntry {
  protocol: TransportProtocol;
  ports: PortRange;
  /** e.g. 'services[0]'. */
  source: string;
}

export interface NormalizedService extends NormalizedPortEntry {
  /** The host(s) the service lives on, at most one per family; empty: the backend itself. */
  hosts: HostAddress[];
}

export interface NormalizedBackend {
  role: 'backend';
  netns: string | undefined;
  /** The IP families in play: those of the tunnel addresses, ascending. */
  families: IpFamily[];
  /** The first (with `tunnels`) or only tunnel: it names the configuration (state file, nftables table). */
  tunnel: NormalizedBackendTunnel;
  /**
   * Every tunnel, in the spec's order (one with `tunnel`). Several: a
   * connection is answered by the tunnel it came in by, and the services'
   * own traffic leaves by the first healthy one.
   */
  tunnels: NormalizedBackendTunnel[];
  returnPath: NormalizedReturnPath;
  services: NormalizedService[];
  /** More ports open to the tunnel (besides the services). */
  tunnelPorts: NormalizedPortEntry[];
}

export type NormalizedConfig = NormalizedFrontend | NormalizedBackend;

/**
 * validateSpec: checks a ServiceForward spec completely — shapes, values and
 * the relations between fields — and returns the NormalizedConfig the planner
 * builds on. The first problem found is thrown as a ConfigError whose `field`
 * is the path of the offending field (`forwards[2].to.peer`) and whose message
 * says what would be valid. Nothing here touches the kernel; the only I/O is
 * reading key files named by `*KeyFile` fields.
 *
 * Order of checks: at each mapping, unknown fields first (a typo is reported
 * as a typo, not as a missing field), then the fields in the order the spec
 * documents them, then the checks that relate several fields.
 */
import { resolve as resolvePath } from 'node:path';
import { ConfigError, ValidationError } from '../../../errors.js';
import { formatIP, isNetworkAddress, networkAddress, parseIP, parseIPv4, parseIPv6, parsePrefix, type Prefix } from '../../../netlink/ip.js';
import { validateNetnsName } from '../../../netns/path.js';
import type {
  AddressByFamily,
  Endpoint,
  HostAddress,
  InterfaceAddress,
  IpFamily,
  NetworkPrefix,
  NormalizedBackend,
  NormalizedBackendPeer,
  NormalizedBackendTunnel,
  NormalizedConfig,
  NormalizedForward,
  NormalizedFrontend,
  NormalizedFrontendPeer,
  NormalizedFrontendTunnel,
  NormalizedReturnPath,
  NormalizedPortEntry,
  TransportProtocol,
} from '../normalized-config.js';
import { child, didYouMean, fail, isPlainObject, item, listWords, redactError, show, showPath, typeName } from '../field.js';
import { decodeKey, isZeroKey, keyProblem, publicKeyOf } from '../key-text.js';
import { findOverlap, formatRange, type NumberRange, parsePorts, parseRange, type PortRange, rangeSize } from '../ports.js';
import { asFileReadError, type FileContent, type FileReader, fileProblems, readRegularFile, unsafeFileText } from '../private-file.js';
import { Secret } from '../secret.js';
import { type BackendSpec, DEFAULTS, type FrontendSpec, RETURN_PATH_MODES, type ReturnPathMode } from '../spec.js';

export interface ValidateOptions {
  /**
   * Directory that relative `privateKeyFile` / `presharedKeyFile` paths are
   * resolved against. loadConfigFile passes the configuration file's
   * directory. Default: the current working directory.
   */
  baseDir?: string;
  /**
   * Refuse key files that the group or others may access (any of mode
   * 0077), that belong to a user other than root or the one running netfwd,
   * or that are in a directory another user owns or that group or others may
   * write to without the sticky bit (they could replace the key). The
   * message gives the fix (`chmod 600 …`, `chown root …`, `chmod go-w …`).
   * The CLI sets it; library callers may keep their keys however they like.
   * Owner and directories are checked when the reader reports them (the
   * default reader does). Default: false.
   */
  enforceKeyFilePermissions?: boolean;
  /**
   * Reads a key file (for tests or a virtual file system). Default: the real
   * file system, regular files only, at most 4 KiB.
   */
  readFile?: FileReader;
}

/** The largest key file read; a key file holds 45 bytes. */
const KEY_FILE_MAX_BYTES = 4096;

const U32_MAX = 0xffffffff;
const UID_MAX = 0xfffffffe; // (uid_t)-1 means "no uid"
const IFNAME_MAX = 15;

const KEY_EXPECTED = "a WireGuard key: 44 base64 characters ending in '=' (32 bytes), as `wg genkey` / `wg pubkey` print it";
const IFNAME_EXPECTED = `an interface name of 1 to ${IFNAME_MAX} bytes without "/", ":" or white space, e.g. "wg0"`;
const PROTOCOL_EXPECTED = `"tcp", "udp" or "tcp+udp"`;
const PEER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const PEER_NAME_EXPECTED = 'a name of 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit, e.g. "home"';

interface Context {
  baseDir: string;
  enforce: boolean;
  read: FileReader;
  /** Every secret seen (key fields of the input, key file contents), to scrub from errors. */
  secrets: string[];
}

// ------------------------------------------------------------------ entry

/**
 * Checks `input` against the ServiceForward spec and returns it normalised.
 * Throws a ConfigError (and nothing else) for any invalid input.
 */
export function validateSpec(input: FrontendSpec, options?: ValidateOptions): NormalizedFrontend;
export function validateSpec(input: BackendSpec, options?: ValidateOptions): NormalizedBackend;
export function validateSpec(input: unknown, options?: ValidateOptions): NormalizedConfig;
export function validateSpec(input: unknown, options: ValidateOptions = {}): NormalizedConfig {
  const ctx: Context = {
    baseDir: options.baseDir ?? process.cwd(),
    enforce: options.enforceKeyFilePermissions === true,
    read: options.readFile ?? ((path) => readRegularFile(path, KEY_FILE_MAX_BYTES, { directories: options.enforceKeyFilePermissions === true })),
    secrets: secretsOf(input),
  };
  try {
    return validateRoot(ctx, input);
  } catch (e) {
    if (e instanceof ConfigError) throw redactError(e, ctx.secrets);
    throw e;
  }
}

/**
 * The strings of the input that are or may be secret: whatever the key fields
 * hold (valid or not), and a key pasted into a key-file field by mistake.
 */
function secretsOf(input: unknown): string[] {
  const out: string[] = [];
  const add = (v: unknown): void => {
    if (v instanceof Secret) out.push(v.reveal());
    else if (typeof v === 'string' && v.trim().length > 0) out.push(v.trim());
  };
  const addIfKeyLike = (v: unknown): void => {
    if (typeof v === 'string' && (/[A-Za-z0-9+/]{40,}={0,2}/.test(v) || /[0-9a-fA-F]{64}/.test(v))) out.push(v.trim());
  };
  const fromHolder = (h: unknown, inline: string, file: string): void => {
    if (!isPlainObject(h)) return;
    add(own(h, inline));
    addIfKeyLike(own(h, file));
  };
  if (!isPlainObject(input)) return out;
  const tunnel = own(input, 'tunnel');
  fromHolder(tunnel, 'privateKey', 'privateKeyFile');
  if (isPlainObject(tunnel)) {
    const peers = own(tunnel, 'peers');
    if (Array.isArray(peers)) for (const p of peers) fromHolder(p, 'presharedKey', 'presharedKeyFile');
    fromHolder(own(tunnel, 'peer'), 'presharedKey', 'presharedKeyFile');
  }
  return out;
}

function validateRoot(ctx: Context, input: unknown): NormalizedConfig {
  if (!isPlainObject(input)) fail('', `a spec is a mapping, not ${typeName(input)}`, 'a mapping with role: frontend or role: backend');
  const role = own(input, 'role');
  if (role === undefined) fail('role', 'is required', '"frontend" or "backend"');
  if (role === 'frontend') return validateFrontend(ctx, input);
  if (role === 'backend') return validateBackend(ctx, input);
  fail('role', `${show(role)} is not a role${didYouMean(role, ['frontend', 'backend'])}`, '"frontend" or "backend"');
}

// ------------------------------------------------------------------ generic shapes

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/**
 * Checks that `value` is a mapping with no field outside `allowed`. `foreign`
 * explains fields that belong elsewhere (e.g. a backend field in a frontend).
 */
function mapping(
  value: unknown,
  field: string,
  allowed: readonly string[],
  expected: string,
  foreign: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  if (!isPlainObject(value)) fail(field, `expected a mapping but got ${typeName(value)}`, expected);
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = Object.prototype.hasOwnProperty.call(foreign, key) ? `: ${foreign[key]}` : didYouMean(key, allowed);
    fail(child(field, key), `unknown field${hint}`, `one of the fields ${listWords(allowed)}`);
  }
  return value;
}

function required(obj: Record<string, unknown>, key: string, field: string, expected: string): unknown {
  const v = own(obj, key);
  if (v === undefined) fail(child(field, key), 'is required', expected);
  return v;
}

function string(value: unknown, field: string, expected: string): string {
  if (typeof value !== 'string') fail(field, `expected a string but got ${typeName(value)}`, expected);
  return value;
}

function boolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(field, `expected true or false but got ${show(value)}`, 'true or false');
  return value;
}

function integer(value: unknown, field: string, min: number, max: number, expected: string): number {
  if (typeof value !== 'number') fail(field, `expected a number but got ${typeName(value)}`, expected);
  if (!Number.isInteger(value)) fail(field, `${show(value)} is not a whole number`, expected);
  if (value < min || value > max) fail(field, `${show(value)} is out of range`, expected);
  return value;
}

function list(value: unknown, field: string, expected: string, min = 0, max = Infinity): unknown[] {
  if (!Array.isArray(value)) fail(field, `expected a list but got ${typeName(value)}`, expected);
  if (value.length < min) fail(field, value.length === 0 ? 'is empty' : `has ${value.length} entries, at least ${min} are needed`, expected);
  if (value.length > max) fail(field, `has ${value.length} entries, at most ${max} are allowed`, expected);
  return value;
}

function protocols(value: unknown, field: string): TransportProtocol[] {
  if (value === 'tcp' || value === 'udp') return [value];
  if (value === 'tcp+udp') return ['tcp', 'udp'];
  if (typeof value !== 'string') fail(field, `expected a string but got ${typeName(value)}`, PROTOCOL_EXPECTED);
  const hint = value === 'udp+tcp' || value === 'both' || value === 'tcp/udp' ? '; write "tcp+udp"' : didYouMean(value, ['tcp', 'udp', 'tcp+udp']);
  fail(field, `${show(value)} is not a protocol${hint}`, PROTOCOL_EXPECTED);
}

function interfaceName(value: unknown, field: string): string {
  const name = string(value, field, IFNAME_EXPECTED);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) fail(field, 'is empty', IFNAME_EXPECTED);
  if (bytes > IFNAME_MAX) fail(field, `${show(name)} is ${bytes} bytes long`, IFNAME_EXPECTED);
  // The kernel's own rule (dev_valid_name) plus control characters, which it accepts but no
  // tool prints safely, and the names of the sysctl directories every namespace has.
  if (name === '.' || name === '..' || /[\s/:\0]/.test(name)) fail(field, `${show(name)} is not a valid interface name`, IFNAME_EXPECTED);
  if (/[\x00-\x1f\x7f]/.test(name)) fail(field, `${show(name)} contains a control character`, IFNAME_EXPECTED);
  if (name === 'all' || name === 'default') fail(field, `${show(name)} is reserved: /proc/sys/net/*/conf/${name} configures every interface`, IFNAME_EXPECTED);
  return name;
}

function netnsName(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  const expected = 'a namespace name as `ip netns` lists it: at most 255 bytes, no "/", not "." or ".."';
  const name = string(value, field, expected);
  try {
    return validateNetnsName(name, field);
  } catch (e) {
    if (e instanceof ValidationError) fail(field, `${show(name)} is not a namespace name`, expected);
    throw e;
  }
}

// ------------------------------------------------------------------ addresses

const familyOfBytes = (b: Buffer): IpFamily => (b.length === 4 ? 4 : 6);
const allBits = (f: IpFamily): number => (f === 4 ? 32 : 128);

/** Why an address cannot be a host's address (on an interface, as a peer, as a public address, as an endpoint). */
function hostAddressProblem(b: Buffer): string | undefined {
  if (b.length === 4) {
    if (b[0] === 0) return 'is in 0.0.0.0/8, which is not a host address';
    if (b[0] === 127) return 'is a loopback address';
    if (b[0]! >= 224 && b[0]! < 240) return 'is a multicast address';
    if (b[0]! >= 240) return 'is a reserved or broadcast address';
    return undefined;
  }
  if (b.every((x) => x === 0)) return 'is the unspecified address';
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 'is the loopback address';
  if (b[0] === 0xff) return 'is a multicast address';
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return 'is an IPv4-mapped address; write the IPv4 address itself';
  return undefined;
}

/** True when every host bit of the prefix is set (the IPv4 broadcast address of the subnet). */
function isAllOnesHost(p: Prefix): boolean {
  for (let bit = p.length; bit < p.address.length * 8; bit++) {
    if (!((p.address[bit >> 3]! >> (7 - (bit & 7))) & 1)) return false;
  }
  return true;
}

/** True when `addr` lies in the subnet of `p` (same family). */
function inSubnet(p: Prefix, addr: Buffer): boolean {
  if (addr.length !== p.address.length) return false;
  return networkAddress({ family: p.family, address: addr, length: p.length }).equals(networkAddress(p));
}

/** parsePrefix, with the message rebuilt so that it quotes the input only through show(). */
function prefix(text: string, field: string, expected: string): Prefix {
  try {
    return parsePrefix(text, field);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const slash = text.indexOf('/');
    const addressPart = slash === -1 ? text : text.slice(0, slash);
    if (!parseIP(addressPart)) fail(field, `${show(text)} is not a CIDR: ${show(addressPart)} is not an IP address`, expected);
    fail(field, `${show(text)} has an invalid prefix length`, `${expected}; the length is 0-32 for IPv4 and 0-128 for IPv6`);
  }
}

/** A plain IP address (no prefix), checked to be usable as a host's address. */
function ipAddress(value: unknown, field: string, expected: string): HostAddress & { bytes: Buffer } {
  const text = string(value, field, expected);
  if (text.includes('/')) fail(field, `${show(text)} is a prefix; an address is needed`, expected);
  const bytes = parseIP(text);
  if (!bytes) fail(field, `${show(text)} is not an IP address`, expected);
  const problem = hostAddressProblem(bytes);
  if (problem) fail(field, `${show(text)} ${problem}`, expected);
  return { family: familyOfBytes(bytes), address: formatIP(bytes), bytes };
}

interface TunnelAddress {
  prefix: Prefix;
  normalized: InterfaceAddress;
}

/** The tunnel interface's own addresses: one per family, each with its subnet's prefix length. */
function tunnelAddresses(value: unknown, field: string, example: string): TunnelAddress[] {
  const expected = `one IPv4 and/or one IPv6 address with its prefix length, e.g. ${example}`;
  const items = list(value, field, expected, 1, 2);
  const out: TunnelAddress[] = [];
  items.forEach((v, i) => {
    const f = item(field, i);
    const text = string(v, f, expected);
    if (!text.includes('/')) fail(f, `${show(text)} has no prefix length`, `the address with the tunnel subnet's prefix length, e.g. ${example}`);
    const p = prefix(text, f, expected);
    const problem = hostAddressProblem(p.address);
    if (problem) fail(f, `${show(text)} ${problem}`, expected);
    const max = allBits(p.family);
    if (p.length === 0) fail(f, `${show(text)} has prefix length 0`, expected);
    if (p.length <= max - 2) {
      const net = `${formatIP(networkAddress(p))}/${p.length}`;
      if (isNetworkAddress(p)) fail(f, `${show(text)} is the network address of ${net}`, `this machine's own address in the subnet, e.g. ${example}`);
      if (p.family === 4 && isAllOnesHost(p)) fail(f, `${show(text)} is the broadcast address of ${net}`, `this machine's own address in the subnet, e.g. ${example}`);
    }
    const other = out.find((a) => a.prefix.family === p.family);
    if (other) fail(f, `is a second IPv${p.family} address`, `one address per family (the tunnel takes one IPv4 and one IPv6 address)`);
    const address = formatIP(p.address);
    out.push({
      prefix: p,
      normalized: {
        family: p.family,
        address,
        prefixLength: p.length,
        cidr: `${address}/${p.length}`,
        network: `${formatIP(networkAddress(p))}/${p.length}`,
      },
    });
  });
  return out.sort((a, b) => a.prefix.family - b.prefix.family);
}

// ------------------------------------------------------------------ keys

interface LoadedKey {
  secret: Secret;
  bytes: Buffer;
  file?: string;
}

/** A key given inline (a string, or a Secret from code). */
function inlineKey(value: unknown, field: string, allowSecret: boolean): { text: string; bytes: Buffer } {
  let text: string;
  if (allowSecret && value instanceof Secret) text = value.reveal();
  else text = string(value, field, KEY_EXPECTED);
  const bytes = decodeKey(text);
  if (!bytes) fail(field, keyProblem(text), KEY_EXPECTED);
  return { text, bytes };
}

/**
 * The key of `inlineName` / `fileName` in `obj`: exactly one of them when
 * `isRequired`, at most one otherwise. Files are read now, relative to the
 * base directory, and checked for their permissions when asked to.
 */
function keySource(ctx: Context, obj: Record<string, unknown>, field: string, inlineName: string, fileName: string, isRequired: boolean): LoadedKey | undefined {
  const inline = own(obj, inlineName);
  const file = own(obj, fileName);
  if (inline !== undefined && file !== undefined) {
    fail(child(field, fileName), `is given together with ${inlineName}`, `either ${inlineName} (the key) or ${fileName} (a file holding it), not both`);
  }
  if (inline === undefined && file === undefined) {
    if (isRequired) fail(child(field, inlineName), 'is required', `${inlineName} (the key) or ${fileName} (a file holding it)`);
    return undefined;
  }
  const zeroProblem = inlineName === 'privateKey' ? 'is all zeros, which WireGuard takes as "no private key"' : 'is all zeros, which WireGuard takes as "no preshared key"; remove the field instead';
  if (inline !== undefined) {
    const f = child(field, inlineName);
    const { text, bytes } = inlineKey(inline, f, true);
    if (isZeroKey(bytes)) fail(f, zeroProblem, KEY_EXPECTED);
    return { secret: new Secret(text), bytes };
  }
  const f = child(field, fileName);
  const fileExpected = inlineName === 'privateKey' ? 'a readable file holding the key, e.g. made by `wg genkey > FILE`' : 'a readable file holding the key, e.g. made by `wg genpsk > FILE`';
  const path = string(file, f, fileExpected);
  if (path === '' || path.includes('\0')) fail(f, path === '' ? 'is empty' : 'contains a NUL byte', fileExpected);
  const abs = resolvePath(ctx.baseDir, path);
  let content: FileContent;
  try {
    content = ctx.read(abs);
  } catch (e) {
    fail(f, `cannot read ${showPath(abs)}: ${asFileReadError(e).reason}`, fileExpected);
  }
  const unsafe = ctx.enforce ? fileProblems(abs, content, 'key') : [];
  if (unsafe.length > 0) {
    const { message, expected } = unsafeFileText(showPath(abs), unsafe, 'key');
    fail(f, message, expected);
  }
  const raw = typeof content.data === 'string' ? content.data : content.data.toString('utf8');
  const text = raw.trim();
  if (text.length > 0) ctx.secrets.push(text);
  const bytes = decodeKey(text);
  if (!bytes) fail(f, `${showPath(abs)} does not hold a WireGuard key: its content ${keyProblem(text)}`, KEY_EXPECTED);
  if (isZeroKey(bytes)) fail(f, `the key in ${showPath(abs)} ${zeroProblem}`, KEY_EXPECTED);
  return { secret: new Secret(text), bytes, file: abs };
}

function publicKey(value: unknown, field: string): string {
  const { text, bytes } = inlineKey(value, field, false);
  if (isZeroKey(bytes)) fail(field, 'is all zeros, which is not a public key', KEY_EXPECTED);
  return text;
}

/** Sets the preshared key (and the file it came from) on a normalised peer. */
function withPresharedKey(peer: { presharedKey?: Secret; presharedKeyFile?: string }, psk: LoadedKey | undefined): void {
  if (!psk) return;
  peer.presharedKey = psk.secret;
  if (psk.file !== undefined) peer.presharedKeyFile = psk.file;
}

type TunnelBase = Pick<NormalizedFrontendTunnel, 'interface' | 'addresses' | 'privateKey' | 'privateKeyFile' | 'publicKey'>;

/** The fields both roles' tunnels share: interface, addresses and private key (with the public key derived from it). */
function tunnelCommon(ctx: Context, t: Record<string, unknown>, field: string, example: string): { base: TunnelBase; addrs: TunnelAddress[] } {
  const name = interfaceName(required(t, 'interface', field, IFNAME_EXPECTED), child(field, 'interface'));
  const addrs = tunnelAddresses(required(t, 'addresses', field, `e.g. [${example.replace(' or ', ', ')}]`), child(field, 'addresses'), example);
  const privateKey = keySource(ctx, t, field, 'privateKey', 'privateKeyFile', true)!;
  const base: TunnelBase = { interface: name, addresses: addrs.map((a) => a.normalized), privateKey: privateKey.secret, publicKey: publicKeyOf(privateKey.bytes) };
  if (privateKey.file !== undefined) base.privateKeyFile = privateKey.file;
  return { base, addrs };
}

// ------------------------------------------------------------------ frontend

const FRONTEND_KEYS = ['role', 'netns', 'tunnel', 'public', 'forwards', 'sourceNat', 'masquerade', 'mssClamp', 'egress', 'tunnelPorts'] as const;
const BACKEND_KEYS = ['role', 'netns', 'tunnel', 'returnPath', 'services', 'tunnelPorts'] as const;
const EGRESS_KEYS = ['enabled', 'allow'] as const;
const FRONTEND_TUNNEL_KEYS = ['interface', 'addresses', 'listenPort', 'privateKey', 'privateKeyFile', 'peers'] as const;
const BACKEND_TUNNEL_KEYS = ['interface', 'addresses', 'listenPort', 'privateKey', 'privateKeyFile', 'peer'] as const;
const FRONTEND_PEER_KEYS = ['name', 'publicKey', 'presharedKey', 'presharedKeyFile', 'addresses'] as const;
const BACKEND_PEER_KEYS = ['publicKey', 'endpoint', 'endpointFamily', 'presharedKey', 'presharedKeyFile', 'persistentKeepalive'] as const;
const FORWARD_KEYS = ['protocol', 'port', 'address', 'to'] as const;
const TARGET_KEYS = ['peer', 'port'] as const;
const PUBLIC_KEYS = ['addresses', 'interface'] as const;
const SERVICE_KEYS = ['protocol', 'port'] as const;
const RETURN_PATH_KEYS = ['mode', 'uids', 'cgroup', 'mark', 'table', 'priority', 'leakGuard', 'exclude'] as const;

const onlyIn = (role: string) => `this field belongs to a spec with role ${role}`;

function validateFrontend(ctx: Context, root: Record<string, unknown>): NormalizedFrontend {
  mapping(root, '', FRONTEND_KEYS, 'a frontend spec', { returnPath: onlyIn('backend'), services: `${onlyIn('backend')}; a frontend lists forwards` });
  const netns = netnsName(own(root, 'netns'), 'netns');

  const tunnelField = 'tunnel';
  const t = mapping(required(root, 'tunnel', '', 'a mapping with interface, addresses, listenPort, privateKey and peers'), tunnelField, FRONTEND_TUNNEL_KEYS, 'a mapping with interface, addresses, listenPort, privateKey and peers', {
    peer: 'a frontend lists its backends under peers (a list)',
    endpoint: 'the frontend has no endpoint; the backends dial its listenPort',
  });
  const { base, addrs } = tunnelCommon(ctx, t, tunnelField, '"10.0.0.1/24" or "fd00::1/64"');
  const ifname = base.interface;
  const families = addrs.map((a) => a.prefix.family);
  const listenPort = integer(required(t, 'listenPort', tunnelField, 'a UDP port 1-65535, e.g. 51820'), child(tunnelField, 'listenPort'), 1, 65535, 'a UDP port 1-65535, e.g. 51820');
  const peers = frontendPeers(ctx, required(t, 'peers', tunnelField, 'a list of the backends'), child(tunnelField, 'peers'), addrs, base.publicKey);
  const tunnel: NormalizedFrontendTunnel = { ...base, listenPort, peers };

  // public
  const pub = own(root, 'public');
  const publicAddresses: HostAddress[] = [];
  let publicInterface: string | undefined;
  if (pub !== undefined) {
    const p = mapping(pub, 'public', PUBLIC_KEYS, 'a mapping with addresses and/or interface');
    const pa = own(p, 'addresses');
    if (pa !== undefined) {
      const expected = 'the frontend\'s public IP addresses, e.g. ["203.0.113.1", "2001:db8::1"]';
      list(pa, 'public.addresses', expected, 1).forEach((v, i) => {
        const f = item('public.addresses', i);
        const a = ipAddress(v, f, expected);
        if (!families.includes(a.family)) fail(f, `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`, `addresses of the tunnel's families (IPv${families.join(' and IPv')}), or an IPv${a.family} address in tunnel.addresses`);
        const dup = publicAddresses.findIndex((x) => x.address === a.address);
        if (dup !== -1) fail(f, `repeats public.addresses[${dup}]`, 'each address once');
        const inside = addrs.find((x) => inSubnet(x.prefix, a.bytes));
        if (inside) fail(f, `${show(a.address)} is inside the tunnel subnet ${inside.normalized.network}`, 'a public address of the frontend');
        publicAddresses.push({ family: a.family, address: a.address });
      });
    }
    const pi = own(p, 'interface');
    if (pi !== undefined) {
      publicInterface = interfaceName(pi, 'public.interface');
      if (publicInterface === ifname) fail('public.interface', `is the tunnel interface ${show(ifname)}`, 'the uplink interface, e.g. "eth0"');
    }
  }

  // forwards
  const forwardsValue = required(root, 'forwards', '', 'a list of forwards (may be empty)');
  const forwards = frontendForwards(forwardsValue, 'forwards', { tunnel: addrs, peers, families, publicAddresses, listenPort });

  const sourceNat = boolean(own(root, 'sourceNat'), 'sourceNat', DEFAULTS.sourceNat);
  const masquerade = boolean(own(root, 'masquerade'), 'masquerade', DEFAULTS.masquerade);
  const mssClamp = boolean(own(root, 'mssClamp'), 'mssClamp', DEFAULTS.mssClamp);

  // egress
  let egress: NormalizedFrontend['egress'] = { enabled: DEFAULTS.egress, allow: [] };
  const egressValue = own(root, 'egress');
  if (egressValue !== undefined) {
    const eg = mapping(egressValue, 'egress', EGRESS_KEYS, 'a mapping with enabled and/or allow', {
      deny: 'what is refused by default is fixed (this machine, its connected networks, link-local); list exceptions in allow',
    });
    egress = {
      enabled: boolean(own(eg, 'enabled'), 'egress.enabled', DEFAULTS.egress),
      allow: prefixList(own(eg, 'allow'), 'egress.allow', families, {
        expected: 'CIDRs or addresses of the tunnel\'s families the backends may reach, e.g. ["192.168.10.0/24"]',
        hosts: true,
        what: 'allow',
      }),
    };
  }
  const tunnelPorts = portEntries(own(root, 'tunnelPorts') ?? [], 'tunnelPorts', undefined, 'ports of this frontend the backends may reach, e.g. [{ protocol: udp, port: 53 }]');

  return {
    role: 'frontend',
    netns,
    families,
    tunnel,
    public: { addresses: publicAddresses, interface: publicInterface },
    forwards,
    sourceNat,
    masquerade,
    mssClamp,
    egress,
    tunnelPorts,
  };
}

function frontendPeers(ctx: Context, value: unknown, field: string, tunnel: TunnelAddress[], ownPublicKey: string): NormalizedFrontendPeer[] {
  const expected = 'a list of peers, each with name, publicKey and addresses';
  const out: NormalizedFrontendPeer[] = [];
  const byAddress = new Map<string, number>();
  list(value, field, expected, 1).forEach((v, i) => {
    const pf = item(field, i);
    const p = mapping(v, pf, FRONTEND_PEER_KEYS, 'a mapping with name, publicKey and addresses', {
      endpoint: 'the frontend does not dial its backends; they dial it',
      persistentKeepalive: 'keepalives are set on the backend, which is the side behind NAT',
      allowedIps: 'allowed IPs are derived from addresses',
    });
    const nameField = child(pf, 'name');
    const name = string(required(p, 'name', pf, PEER_NAME_EXPECTED), nameField, PEER_NAME_EXPECTED);
    if (name.length > 32) fail(nameField, `is ${name.length} characters long`, PEER_NAME_EXPECTED);
    if (!PEER_NAME.test(name)) fail(nameField, `${show(name)} is not a valid peer name`, PEER_NAME_EXPECTED);
    const sameName = out.findIndex((x) => x.name === name);
    if (sameName !== -1) fail(nameField, `${show(name)} is already the name of ${item(field, sameName)}`, 'a name no other peer has');

    const keyField = child(pf, 'publicKey');
    const pk = publicKey(required(p, 'publicKey', pf, KEY_EXPECTED), keyField);
    if (pk === ownPublicKey) fail(keyField, "is this frontend's own public key (derived from tunnel.privateKey)", "the backend's public key (`wg pubkey` on the backend)");
    const sameKey = out.findIndex((x) => x.publicKey === pk);
    if (sameKey !== -1) fail(keyField, `is already the public key of ${item(field, sameKey)}`, 'a different key for each peer');

    const psk = keySource(ctx, p, pf, 'presharedKey', 'presharedKeyFile', false);

    const af = child(pf, 'addresses');
    const addrExpected = 'one or two host addresses in the tunnel subnets (at most one per family), e.g. ["10.0.0.2", "fd00::2"]';
    const addresses: HostAddress[] = [];
    list(required(p, 'addresses', pf, addrExpected), af, addrExpected, 1, 2).forEach((a, j) => {
      const f = item(af, j);
      const h = peerAddress(a, f, tunnel);
      if (addresses.some((x) => x.family === h.family)) fail(f, `is a second IPv${h.family} address`, 'at most one address per family (it is the DNAT target)');
      const prev = byAddress.get(h.address);
      if (prev !== undefined) fail(f, `${show(h.address)} is already an address of ${item(field, prev)} (${show(out[prev]!.name)})`, 'a tunnel address no other peer has');
      byAddress.set(h.address, i);
      addresses.push(h);
    });
    addresses.sort((a, b) => a.family - b.family);
    const addressByFamily: AddressByFamily = {};
    for (const a of addresses) addressByFamily[a.family] = a.address;
    const peer: NormalizedFrontendPeer = {
      name,
      publicKey: pk,
      addresses,
      addressByFamily,
      allowedIps: addresses.map((a) => `${a.address}/${allBits(a.family)}`),
      source: pf,
    };
    withPresharedKey(peer, psk);
    out.push(peer);
  });
  return out;
}

/** A peer's tunnel address: a single host inside the tunnel subnet of its family. */
function peerAddress(value: unknown, field: string, tunnel: TunnelAddress[]): HostAddress {
  const expected = 'a host address in the tunnel subnet, e.g. "10.0.0.2" (or "10.0.0.2/32")';
  const text = string(value, field, expected);
  let addrText = text;
  const slash = text.indexOf('/');
  if (slash !== -1) {
    addrText = text.slice(0, slash);
    const len = text.slice(slash + 1);
    const b = parseIP(addrText);
    if (!b) fail(field, `${show(addrText)} is not an IP address`, expected);
    if (len !== String(allBits(familyOfBytes(b)))) fail(field, `${show(text)} is not a single host`, `a host address, e.g. "10.0.0.2", "10.0.0.2/32" or "fd00::2/128"`);
  }
  const a = ipAddress(addrText, field, expected);
  const mine = tunnel.find((t) => t.prefix.family === a.family);
  if (!mine) fail(field, `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`, `an address of the tunnel's families, or add an IPv${a.family} address to tunnel.addresses`);
  if (!inSubnet(mine.prefix, a.bytes)) fail(field, `${show(a.address)} is outside the tunnel subnet ${mine.normalized.network}`, `an address in ${mine.normalized.network}`);
  if (a.bytes.equals(mine.prefix.address)) fail(field, `${show(a.address)} is this machine's own tunnel address`, `another address in ${mine.normalized.network}`);
  const max = allBits(a.family);
  if (mine.prefix.length <= max - 2) {
    const host: Prefix = { family: a.family, address: a.bytes, length: mine.prefix.length };
    if (isNetworkAddress(host)) fail(field, `${show(a.address)} is the network address of ${mine.normalized.network}`, `a host address in ${mine.normalized.network}`);
    if (a.family === 4 && isAllOnesHost(host)) fail(field, `${show(a.address)} is the broadcast address of ${mine.normalized.network}`, `a host address in ${mine.normalized.network}`);
  }
  return { family: a.family, address: a.address };
}

interface ForwardContext {
  tunnel: TunnelAddress[];
  peers: NormalizedFrontendPeer[];
  families: IpFamily[];
  publicAddresses: HostAddress[];
  listenPort: number;
}

function frontendForwards(value: unknown, field: string, fc: ForwardContext): NormalizedForward[] {
  const expected = 'a list of forwards such as { protocol: tcp, port: 9735, to: { peer: home } } (may be empty)';
  const out: NormalizedForward[] = [];
  const order = new Map<NormalizedForward, number>();
  const peerNames = fc.peers.map((p) => p.name);
  const publicFamilies: IpFamily[] = fc.publicAddresses.length > 0 ? fc.families.filter((f) => fc.publicAddresses.some((a) => a.family === f)) : fc.families;

  list(value, field, expected).forEach((v, i) => {
    const ff = item(field, i);
    const f = mapping(v, ff, FORWARD_KEYS, 'a mapping with protocol, port and to', {
      peer: 'the peer goes inside to: { peer: NAME }',
      targetPort: 'the backend port goes inside to: { port: N }',
      publicPort: 'the public port is port',
    });
    const protos = protocols(required(f, 'protocol', ff, PROTOCOL_EXPECTED), child(ff, 'protocol'));
    const portField = child(ff, 'port');
    const publicPorts = parsePorts(required(f, 'port', ff, 'the public port or range'), portField);

    let publicAddress: HostAddress | undefined;
    const addressValue = own(f, 'address');
    const addressField = child(ff, 'address');
    if (addressValue !== undefined) {
      const expectedAddr = fc.publicAddresses.length > 0 ? `one of public.addresses: ${listWords(fc.publicAddresses.map((a) => a.address))}` : 'a public IP address of the frontend';
      const a = ipAddress(addressValue, addressField, expectedAddr);
      if (fc.publicAddresses.length > 0 && !fc.publicAddresses.some((x) => x.address === a.address)) fail(addressField, `${show(a.address)} is not in public.addresses`, expectedAddr);
      if (!fc.families.includes(a.family)) fail(addressField, `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`, `an address of the tunnel's families`);
      const inside = fc.tunnel.find((t) => inSubnet(t.prefix, a.bytes));
      if (inside) fail(addressField, `${show(a.address)} is inside the tunnel subnet ${inside.normalized.network}`, expectedAddr);
      publicAddress = { family: a.family, address: a.address };
    }

    const toField = child(ff, 'to');
    const to = mapping(required(f, 'to', ff, 'a mapping { peer, port? }'), toField, TARGET_KEYS, 'a mapping { peer, port? }', {
      address: 'the target address is the peer\'s tunnel address; name the peer',
    });
    const peerField = child(toField, 'peer');
    const peerExpected = `the name of one of tunnel.peers: ${listWords(peerNames)}`;
    const peerName = string(required(to, 'peer', toField, peerExpected), peerField, peerExpected);
    const peer = fc.peers.find((p) => p.name === peerName);
    if (!peer) fail(peerField, `no peer is named ${show(peerName)}${didYouMean(peerName, peerNames)}`, peerExpected);

    let targetPorts: PortRange = publicPorts;
    const targetValue = own(to, 'port');
    if (targetValue !== undefined) {
      const tf = child(toField, 'port');
      targetPorts = parsePorts(targetValue, tf);
      const n = rangeSize(publicPorts);
      if (rangeSize(targetPorts) !== n) {
        const start = Math.min(targetPorts.from, 65536 - n);
        const example = n === 1 ? `a single port, since port ${formatRange(publicPorts)} is one port` : `a range of ${n} ports like port ${formatRange(publicPorts)}, e.g. "${start}-${start + n - 1}"`;
        fail(tf, `${formatRange(targetPorts)} has ${rangeSize(targetPorts)} port(s) but port ${formatRange(publicPorts)} has ${n}`, example);
      }
    }

    const candidates = publicAddress ? [publicAddress.family] : publicFamilies;
    const families = candidates.filter((fam) => peer.addressByFamily[fam] !== undefined);
    if (families.length === 0) {
      const peerFams = peer.addresses.map((a) => `IPv${a.family}`).join(' and ');
      if (publicAddress) fail(addressField, `is an IPv${publicAddress.family} address but peer ${show(peer.name)} has ${peerFams} only`, `an address of a family the peer has, or an IPv${publicAddress.family} address for the peer`);
      fail(peerField, `peer ${show(peer.name)} has ${peerFams} only but the public side has IPv${publicFamilies.join(' and IPv')} only`, 'a peer with an address of a public family');
    }
    const peerAddresses: AddressByFamily = {};
    for (const fam of families) peerAddresses[fam] = peer.addressByFamily[fam];

    for (const protocol of protos) {
      if (protocol === 'udp' && publicPorts.from <= fc.listenPort && fc.listenPort <= publicPorts.to) {
        fail(portField, `UDP port ${fc.listenPort} is the tunnel's listenPort; forwarding it would capture the WireGuard traffic`, 'a port other than tunnel.listenPort, or another listenPort');
      }
      const fwd: NormalizedForward = { protocol, publicPorts, peer: peer.name, peerAddresses, targetPorts, families, source: ff };
      if (publicAddress) fwd.publicAddress = publicAddress;
      out.push(fwd);
      order.set(fwd, i);
    }
  });
  checkForwardOverlaps(out, order);
  return out;
}

/**
 * Two forwards collide when they share the protocol, a family, a public port
 * and a public address (a forward without `address` takes every address of
 * its families).
 */
function checkForwardOverlaps(forwards: NormalizedForward[], positions: ReadonlyMap<NormalizedForward, number>): void {
  interface Entry {
    range: PortRange;
    order: number;
    fwd: NormalizedForward;
  }
  const groups = new Map<string, { any: Entry[]; byAddress: Map<string, Entry[]> }>();
  forwards.forEach((fwd) => {
    const order = positions.get(fwd)!;
    for (const family of fwd.families) {
      const key = `${fwd.protocol}/${family}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { any: [], byAddress: new Map() }));
      const e: Entry = { range: fwd.publicPorts, order, fwd };
      if (fwd.publicAddress) {
        const l = g.byAddress.get(fwd.publicAddress.address) ?? [];
        l.push(e);
        g.byAddress.set(fwd.publicAddress.address, l);
      } else g.any.push(e);
    }
  });
  let worst: [Entry, Entry] | undefined;
  const consider = (pair: [Entry, Entry] | undefined): void => {
    if (pair && (!worst || pair[1].order < worst[1].order)) worst = pair;
  };
  for (const g of groups.values()) {
    consider(findOverlap(g.any));
    for (const l of g.byAddress.values()) consider(findOverlap([...g.any, ...l]));
  }
  if (!worst) return;
  const [a, b] = worst;
  const where = b.fwd.publicAddress ?? a.fwd.publicAddress;
  fail(
    `${b.fwd.source}.port`,
    `${b.fwd.protocol.toUpperCase()} ${formatRange(b.range)} overlaps ${a.fwd.source} (${a.fwd.protocol} ${formatRange(a.range)}) on ${where ? where.address : 'the same public addresses'}`,
    'public ports that no other forward of the same protocol uses on the same address',
  );
}

// ------------------------------------------------------------------ backend

function validateBackend(ctx: Context, root: Record<string, unknown>): NormalizedBackend {
  const frontendOnly = onlyIn('frontend');
  mapping(root, '', BACKEND_KEYS, 'a backend spec', {
    public: frontendOnly,
    forwards: `${frontendOnly}; a backend lists services`,
    sourceNat: `${frontendOnly}; on the backend use returnPath: { mode: snat }`,
    masquerade: frontendOnly,
    mssClamp: frontendOnly,
    egress: `${frontendOnly}; a backend's own traffic is selected by returnPath`,
  });
  const netns = netnsName(own(root, 'netns'), 'netns');

  const tunnelField = 'tunnel';
  const tunnelExpected = 'a mapping with interface, addresses, privateKey and peer';
  const t = mapping(required(root, 'tunnel', '', tunnelExpected), tunnelField, BACKEND_TUNNEL_KEYS, tunnelExpected, {
    peers: 'a backend has exactly one peer, the frontend: use peer (a mapping)',
  });
  const { base, addrs } = tunnelCommon(ctx, t, tunnelField, '"10.0.0.2/24" or "fd00::2/64"');
  const ownPublicKey = base.publicKey;
  const families = addrs.map((a) => a.prefix.family);
  const lp = own(t, 'listenPort');
  const listenPort = lp === undefined ? undefined : integer(lp, child(tunnelField, 'listenPort'), 1, 65535, 'a UDP port 1-65535 (or leave it out for a random port)');

  const peerField = child(tunnelField, 'peer');
  const peerExpected = 'a mapping with publicKey and endpoint';
  const p = mapping(required(t, 'peer', tunnelField, peerExpected), peerField, BACKEND_PEER_KEYS, peerExpected, {
    name: 'the backend has one peer, the frontend, and it needs no name',
    addresses: "the frontend's allowed IPs are derived (everything of the tunnel's families)",
    allowedIps: "the frontend's allowed IPs are derived (everything of the tunnel's families)",
  });
  const keyField = child(peerField, 'publicKey');
  const pk = publicKey(required(p, 'publicKey', peerField, KEY_EXPECTED), keyField);
  if (pk === ownPublicKey) fail(keyField, "is this backend's own public key (derived from tunnel.privateKey)", "the frontend's public key (`wg pubkey` on the frontend)");
  const psk = keySource(ctx, p, peerField, 'presharedKey', 'presharedKeyFile', false);
  const endpointField = child(peerField, 'endpoint');
  const endpoint = parseEndpoint(required(p, 'endpoint', peerField, ENDPOINT_EXPECTED), endpointField);
  const familyValue = own(p, 'endpointFamily');
  if (familyValue !== undefined) {
    const familyField = child(peerField, 'endpointFamily');
    if (familyValue !== 4 && familyValue !== 6) fail(familyField, `${show(familyValue)} is not an IP version`, '4 or 6');
    if (endpoint.hostname === undefined) fail(familyField, 'only applies to an endpoint given as a host name', 'leave it out (the address says its family)');
    endpoint.family = familyValue;
    endpoint.preferFamily = familyValue;
  }
  const insideTunnel = endpoint.hostname === undefined ? addrs.find((a) => a.prefix.family === endpoint.family && inSubnet(a.prefix, parseIP(endpoint.host)!)) : undefined;
  if (insideTunnel) fail(endpointField, `${show(endpoint.host)} is inside the tunnel subnet ${insideTunnel.normalized.network}`, "the frontend's public address and listenPort, e.g. 203.0.113.1:51820");
  const keepaliveValue = own(p, 'persistentKeepalive');
  const persistentKeepalive =
    keepaliveValue === undefined ? DEFAULTS.persistentKeepalive : integer(keepaliveValue, child(peerField, 'persistentKeepalive'), 0, 65535, 'seconds 0-65535 (0 turns keepalives off)');

  const peer: NormalizedBackendPeer = {
    publicKey: pk,
    endpoint,
    persistentKeepalive,
    allowedIps: families.map((f) => (f === 4 ? '0.0.0.0/0' : '::/0')),
  };
  withPresharedKey(peer, psk);
  const tunnel: NormalizedBackendTunnel = { ...base, listenPort, peer };

  const returnPath = validateReturnPath(required(root, 'returnPath', '', `a mapping with mode ${listWords(RETURN_PATH_MODES)}`), 'returnPath', families);
  const services = portEntries(required(root, 'services', '', 'a list of services (may be empty)'), 'services', listenPort, 'a list of services such as { protocol: tcp, port: 9735 } (may be empty)');
  const tunnelPorts = portEntries(own(root, 'tunnelPorts') ?? [], 'tunnelPorts', listenPort, 'more ports open to the tunnel, e.g. [{ protocol: tcp, port: 22 }]');
  return { role: 'backend', netns, families, tunnel, returnPath, services, tunnelPorts };
}

const ENDPOINT_EXPECTED =
  '"IPv4:port", "[IPv6]:port" or "hostname:port" with the frontend\'s public address (or DNS name) and listenPort, e.g. "203.0.113.1:51820", "[2001:db8::1]:51820" or "vpn.example.org:51820"';

/** A DNS name as an endpoint may give it: letters, digits and hyphens in dot-separated labels of at most 63, 253 in all, not all-numeric. */
function hostnameProblem(name: string): string | undefined {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return 'is not a host name (1-253 characters)';
  const labels = n.split('.');
  for (const l of labels) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) return `is not a host name (label ${show(l)}: letters, digits and inner hyphens, at most 63)`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'is neither an IP address nor a host name';
  return undefined;
}

/** 'host:port' or '[v6]:port' with an IP literal host, or 'name:port' with a host name resolved when the spec is applied. */
function parseEndpoint(value: unknown, field: string): Endpoint {
  const text = string(value, field, ENDPOINT_EXPECTED);
  let hostText: string;
  let portText: string;
  let bracketed = false;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
    if (!m) fail(field, `${show(text)} is not "[IPv6]:port"`, ENDPOINT_EXPECTED);
    hostText = m[1]!;
    portText = m[2]!;
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) fail(field, `${show(text)} has no port`, ENDPOINT_EXPECTED);
    hostText = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (hostText.includes(':')) {
      fail(field, parseIPv6(hostText) || parseIPv6(text) ? `${show(text)}: an IPv6 endpoint needs brackets around the address` : `${show(text)} is not "host:port"`, ENDPOINT_EXPECTED);
    }
  }
  if (!/^[0-9]+$/.test(portText)) fail(field, `${show(text)} has no valid port`, ENDPOINT_EXPECTED);
  const port = Number(portText);
  if (port < 1 || port > 65535 || portText.length > 5) fail(field, `port ${show(portText)} is out of range`, ENDPOINT_EXPECTED);
  const bytes = bracketed ? parseIPv6(hostText) : parseIPv4(hostText);
  if (!bytes) {
    if (bracketed && parseIPv4(hostText)) fail(field, `${show(text)}: brackets are for IPv6 addresses only`, ENDPOINT_EXPECTED);
    if (!bracketed && /[A-Za-z]/.test(hostText)) {
      const problem = hostnameProblem(hostText);
      if (problem) fail(field, `${show(hostText)} ${problem}`, ENDPOINT_EXPECTED);
      // Resolved when the spec is applied (src/forward/plan/resolve.ts); until then host and text name it.
      const hostname = hostText.toLowerCase().replace(/\.$/, '');
      return { family: 4, host: hostname, port, text: `${hostname}:${port}`, hostname };
    }
    fail(field, `${show(hostText)} is not an IP address`, ENDPOINT_EXPECTED);
  }
  const problem = hostAddressProblem(bytes);
  if (problem) fail(field, `${show(hostText)} ${problem}`, ENDPOINT_EXPECTED);
  const family = familyOfBytes(bytes);
  const host = formatIP(bytes);
  return { family, host, port, text: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

const MODE_FIELDS: Record<ReturnPathMode, readonly string[]> = {
  uid: ['uids', 'mark', 'table', 'priority', 'leakGuard', 'exclude'],
  mark: ['uids', 'cgroup', 'mark', 'table', 'priority', 'leakGuard', 'exclude'],
  connmark: ['mark', 'table', 'priority', 'leakGuard', 'exclude'],
  snat: [],
};

const WHY_NOT: Record<string, (mode: ReturnPathMode) => string> = {
  uids: (m) => (m === 'connmark' ? 'connmark selects connections by their arrival through the tunnel, not by user' : 'the frontend SNATs; nothing is selected on the backend'),
  cgroup: (m) => (m === 'snat' ? 'the frontend SNATs; nothing is selected on the backend' : `mode ${m} does not select by cgroup`),
  mark: () => 'only the routed modes (uid, mark, connmark) use a firewall mark',
  table: () => 'the frontend SNATs and the backend needs no policy routing',
  priority: () => 'the frontend SNATs and the backend needs no policy routing',
  leakGuard: () => 'without policy routing there is no table to guard',
  exclude: () => 'without policy routing nothing goes through the tunnel that could be excluded',
};

function validateReturnPath(value: unknown, field: string, families: IpFamily[]): NormalizedReturnPath {
  const rp = mapping(value, field, RETURN_PATH_KEYS, `a mapping with mode ${listWords(RETURN_PATH_MODES)}`, {
    uid: 'the list of users is uids',
    fwmark: 'the firewall mark is mark',
    rulePriority: 'the rule priority is priority',
  });
  const modeField = child(field, 'mode');
  const modeValue = required(rp, 'mode', field, listWords(RETURN_PATH_MODES));
  if (!(RETURN_PATH_MODES as readonly unknown[]).includes(modeValue)) {
    fail(modeField, `${show(modeValue)} is not a mode${didYouMean(modeValue, RETURN_PATH_MODES)}`, listWords(RETURN_PATH_MODES));
  }
  const mode = modeValue as ReturnPathMode;
  for (const key of RETURN_PATH_KEYS) {
    if (key === 'mode' || own(rp, key) === undefined || MODE_FIELDS[mode].includes(key)) continue;
    const modes = RETURN_PATH_MODES.filter((m) => MODE_FIELDS[m].includes(key));
    fail(child(field, key), `is not used in mode ${mode}: ${WHY_NOT[key]!(mode)}`, `no ${key} in mode ${mode} (it applies to mode ${listWords(modes)})`);
  }
  if (mode === 'snat') return { mode };

  const tableField = child(field, 'table');
  const tableValue = own(rp, 'table');
  const table = tableValue === undefined ? DEFAULTS.table : routingTable(tableValue, tableField);
  const priorityValue = own(rp, 'priority');
  const priority = priorityValue === undefined ? DEFAULTS.priority : rulePriority(priorityValue, child(field, 'priority'), mode === 'uid' ? 32764 : 32765);
  const leakGuard = boolean(own(rp, 'leakGuard'), child(field, 'leakGuard'), DEFAULTS.leakGuard);
  // Modes uid and mark also route the families the tunnel lacks (into an unreachable table):
  // exclusions of those families apply there.
  const excludeFamilies: IpFamily[] = mode === 'connmark' ? families : [4, 6];
  const exclude = prefixList(own(rp, 'exclude'), child(field, 'exclude'), excludeFamilies, {
    expected: mode === 'connmark' ? "network CIDRs of the tunnel's families, e.g. [\"192.168.1.0/24\"]" : 'network CIDRs, e.g. ["192.168.1.0/24", "fd12:3456::/48"]',
    hosts: false,
    what: 'exclude',
  });
  const routed = { table, priority, leakGuard, exclude };

  const uidsValue = own(rp, 'uids');
  const uids = uidsValue === undefined ? [] : uidRanges(uidsValue, child(field, 'uids'));
  const markValue = own(rp, 'mark');
  const markExpected = 'a firewall mark 1-4294967295 (0 means "no mark")';
  const mark = markValue === undefined ? undefined : integer(markValue, child(field, 'mark'), 1, U32_MAX, markExpected);

  if (mode === 'uid') {
    if (uidsValue === undefined) fail(child(field, 'uids'), 'is required in mode uid', 'a list of uids or uid ranges whose traffic uses the tunnel, e.g. ["1000-1001"]');
    return { mode, uids, mark: mark ?? table, ...routed };
  }
  if (mode === 'connmark') return { mode, mark: mark ?? table, ...routed };
  const cgroupValue = own(rp, 'cgroup');
  const cgroup = cgroupValue === undefined ? undefined : cgroupPath(cgroupValue, child(field, 'cgroup'));
  if (uidsValue === undefined && cgroup === undefined && mark === undefined) {
    fail(field, 'mode mark needs something that selects the traffic', 'uids, cgroup, or the mark your application sets on its sockets itself (SO_MARK)');
  }
  return { mode, uids, cgroup, mark: mark ?? table, ...routed };
}

const RESERVED_TABLES: Record<number, string> = {
  0: 'table 0 means "unspecified"',
  252: 'table 252 is reserved ("compat", how the kernel reports tables above 255)',
  253: 'table 253 is the "default" table',
  254: 'table 254 is the "main" table',
  255: 'table 255 is the "local" table',
};
const TABLE_EXPECTED = 'a routing table 1-4294967295 other than 252-255, e.g. 5000';

function routingTable(value: unknown, field: string): number {
  if (typeof value === 'string' && ['main', 'local', 'default', 'compat'].includes(value)) fail(field, `${show(value)} is a system table`, TABLE_EXPECTED);
  const n = integer(value, field, 0, U32_MAX, TABLE_EXPECTED);
  const why = RESERVED_TABLES[n];
  if (why) fail(field, `${why}; netfwd needs a table of its own`, TABLE_EXPECTED);
  return n;
}

function rulePriority(value: unknown, field: string, max: number): number {
  const expected = `a rule priority 1-${max}, e.g. 100 (0 is the local table's rule, 32766 main's, 32767 default's${max < 32765 ? '; mode uid also uses the next priority, for its uid ranges' : ''})`;
  const n = integer(value, field, 0, U32_MAX, expected);
  if (n === 0 || n >= 32766) fail(field, n === 0 ? 'priority 0 is taken by the rule for the local table' : `priority ${n} is ${n === 32766 ? 'taken by the rule for the main table' : n === 32767 ? 'taken by the rule for the default table' : 'after the main table\'s rule, so it would never be reached'}`, expected);
  if (n > max) fail(field, `priority ${n} leaves no room for the uid ranges' rule at ${n + 1}: 32766 is the main table's rule`, expected);
  return n;
}

function uidRanges(value: unknown, field: string): NumberRange[] {
  const expected = 'uids 1-4294967294 or ranges "FROM-TO", e.g. ["1000-1001"]';
  const out: Array<{ range: NumberRange; order: number }> = [];
  list(value, field, expected, 1).forEach((v, i) => {
    const f = item(field, i);
    const range = parseRange(v, f, 0, UID_MAX, 'uid', expected);
    // WireGuard's own UDP packets belong to root (the kernel's socket, or wireguard-go running as root):
    // routing them into the tunnel would loop.
    if (range.from === 0) fail(f, `selects uid 0 (root), whose traffic includes the tunnel's own packets and would loop into the tunnel`, `uids of the service users only, e.g. ["1000-1001"]`);
    out.push({ range, order: i });
  });
  const overlap = findOverlap(out);
  if (overlap) fail(item(field, overlap[1].order), `${formatRange(overlap[1].range)} overlaps ${item(field, overlap[0].order)} (${formatRange(overlap[0].range)})`, 'ranges that do not overlap (one ip rule each)');
  return out.map((o) => o.range);
}

function cgroupPath(value: unknown, field: string): string {
  const expected = 'a cgroup v2 path below the cgroup2 mount, e.g. "system.slice/lnd.service"';
  const text = string(value, field, expected);
  const path = text.replace(/^\/+|\/+$/g, '');
  if (path === '') fail(field, text === '' ? 'is empty' : 'is the root cgroup, which holds every process', expected);
  if (/[\0\n]/.test(path)) fail(field, 'contains a NUL or newline character', expected);
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) fail(field, 'has an empty, "." or ".." component', expected);
  if (Buffer.byteLength(path) > 4095) fail(field, 'is longer than 4095 bytes', expected);
  return path;
}

/**
 * A list of CIDRs of the given families (exclusions, egress exceptions): each
 * a network address with its prefix length, or with `hosts` a plain address
 * (taken as /32 or /128). Duplicates and prefixes inside another are refused:
 * an nftables interval set cannot hold overlapping elements, and a route would
 * never be reached.
 */
function prefixList(value: unknown, field: string, families: IpFamily[], o: { expected: string; hosts: boolean; what: 'exclude' | 'allow' }): NetworkPrefix[] {
  if (value === undefined) return [];
  const expected = o.expected;
  const out: NetworkPrefix[] = [];
  list(value, field, expected).forEach((v, i) => {
    const f = item(field, i);
    const text = string(v, f, expected);
    let p: Prefix;
    if (o.hosts && !text.includes('/')) {
      const b = parseIP(text);
      if (!b) fail(f, `${show(text)} is not an IP address or CIDR`, expected);
      p = { family: familyOfBytes(b), address: b, length: allBits(familyOfBytes(b)) };
    } else p = prefix(text, f, expected);
    if (p.length === 0) {
      if (o.what === 'exclude') fail(f, `${show(text)} would exclude every destination`, `${expected}; to route nothing through the tunnel, leave the service out`);
      fail(f, `${show(text)} would allow every destination`, `${expected}; the internet is reachable by default (egress.enabled)`);
    }
    const net = `${formatIP(networkAddress(p))}/${p.length}`;
    if (!isNetworkAddress(p)) fail(f, `${show(text)} has host bits set`, `the network address: ${net}`);
    if (!families.includes(p.family)) fail(f, `is an IPv${p.family} range but the tunnel has no IPv${p.family} address`, `ranges of the families IPv${families.join(' and IPv')}`);
    const dup = out.findIndex((x) => x.cidr === net);
    if (dup !== -1) fail(f, `repeats ${item(field, dup)}`, 'each range once');
    const outer = out.findIndex((x) => x.family === p.family && (x.prefixLength <= p.length ? inSubnet(parsePrefix(x.cidr, f), p.address) : inSubnet(p, parsePrefix(x.cidr, f).address)));
    if (outer !== -1) fail(f, `${show(net)} overlaps ${item(field, outer)} (${out[outer]!.cidr})`, 'ranges that do not overlap: keep the larger one');
    out.push({ family: p.family, address: formatIP(p.address), prefixLength: p.length, cidr: net });
  });
  return out;
}

/** services, tunnelPorts: ports or ranges of TCP and/or UDP, no two of one protocol overlapping. */
function portEntries(value: unknown, field: string, listenPort: number | undefined, expected: string): NormalizedPortEntry[] {
  const out: Array<NormalizedPortEntry & { order: number; range: PortRange }> = [];
  list(value, field, expected).forEach((v, i) => {
    const sf = item(field, i);
    const s = mapping(v, sf, SERVICE_KEYS, 'a mapping with protocol and port', {
      to: 'services are reached on the backend itself; forwards belong to the frontend',
      address: 'services are reachable on the tunnel addresses',
    });
    const protos = protocols(required(s, 'protocol', sf, PROTOCOL_EXPECTED), child(sf, 'protocol'));
    const portField = child(sf, 'port');
    const ports = parsePorts(required(s, 'port', sf, 'the port or range the service listens on'), portField);
    for (const protocol of protos) {
      if (protocol === 'udp' && listenPort !== undefined && ports.from <= listenPort && listenPort <= ports.to) {
        fail(portField, `UDP port ${listenPort} is the tunnel's listenPort`, 'a port other than tunnel.listenPort');
      }
      out.push({ protocol, ports, source: sf, order: i, range: ports });
    }
  });
  for (const protocol of ['tcp', 'udp'] as const) {
    const overlap = findOverlap(out.filter((s) => s.protocol === protocol));
    if (overlap) {
      const [a, b] = overlap;
      fail(`${b.source}.port`, `${protocol.toUpperCase()} ${formatRange(b.ports)} overlaps ${a.source} (${protocol} ${formatRange(a.ports)})`, `each port in one entry of ${field} only`);
    }
  }
  return out.map(({ protocol, ports, source }) => ({ protocol, ports, source }));
}


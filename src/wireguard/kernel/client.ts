/**
 * The kernel backend's generic netlink exchanges over one connection in the
 * device's namespace: SET_DEVICE sent in order, GET_DEVICE dumped and
 * merged, and the probe for allowed-IP removal.
 */
import { NetlinkError } from '../../errors.js';
import { spanAt } from '../../netlink/attributes.js';
import type { Connection } from '../../netlink/connection.js';
import { genlmsghdr, resolveFamily } from '../../netlink/genl.js';
import type { Prefix } from '../../netlink/ip.js';
import type { NetlinkMessage, Request } from '../../netlink/message.js';
import type { ParsedConfig } from '../config.js';
import type { RawDevice } from '../state.js';
import { DEFAULT_MESSAGE_BUDGET, encodeSetDevice, setDeviceMessages } from './configure.js';
import { encodeGetDevice, WG_GENL_NAME } from './family.js';
import { mergeDump } from './parse.js';

const EINVAL = 22;
const EOPNOTSUPP = 95;

/** Talks to the kernel over one generic netlink connection (in the device's namespace). */
export class GenlClient {
  private removal?: { supported: boolean; why: string };

  constructor(
    private readonly conn: Connection,
    private readonly budget = DEFAULT_MESSAGE_BUDGET,
  ) {}

  private async familyId(): Promise<number> {
    return (await resolveFamily(this.conn, WG_GENL_NAME)).id;
  }

  /** Sends the SET_DEVICE messages in order, stopping at the first refusal (as wg does). */
  async configure(name: string, config: ParsedConfig): Promise<number> {
    const type = await this.familyId();
    const target = { ifname: name };
    // Each message goes out from the thread pool while the next is encoded;
    // the next is sent once the kernel has acknowledged the one before (in
    // order; a refusal stops the rest).
    let sent = 0;
    let pending: Promise<unknown> | undefined;
    try {
      for (const { payload } of setDeviceMessages(target, config, this.budget, false)) {
        if (pending) await pending;
        const index = sent++;
        const req: Request = {
          type,
          flags: 0,
          payload,
          describe: `configure WireGuard ${name}${index > 0 ? ` (message ${index + 1})` : ''}`,
          // The attribute paths of an error, from the same message encoded again with them.
          locate: (offset) => {
            if (offset < genlmsghdr.size) return 'genlmsghdr';
            let i = 0;
            for (const m of setDeviceMessages(target, config, this.budget, true)) if (i++ === index) return spanAt(m.spans, offset)?.path;
            return undefined;
          },
        };
        pending = this.conn.request(req, { offload: true });
        pending.catch(() => undefined); // seen at the await
      }
      if (pending) await pending;
    } finally {
      if (pending) await pending.catch(() => undefined);
    }
    return sent;
  }

  /**
   * Whether this kernel removes allowed IPs flagged WGALLOWEDIP_F_REMOVE_ME
   * (Linux 6.16+). Older kernels reject the unknown attribute (strict
   * parsing) or, were one to ignore it, would add the prefix instead: the
   * probe removes `prefix`, which `peer` holds now, in a message of its own
   * (UPDATE_ONLY, nothing else), so on a kernel without the flag nothing
   * changes either way, and reading the peer back tells which kernel this is.
   * The answer is kept for this connection.
   */
  async allowedIpRemoval(name: string, peer: Buffer, prefix: Prefix): Promise<{ supported: boolean; why: string }> {
    if (this.removal) return this.removal;
    const type = await this.familyId();
    const [message] = encodeSetDevice(
      { ifname: name },
      {
        replacePeers: false,
        peers: [
          {
            index: 0,
            publicKey: peer,
            allowedIps: [],
            removeAllowedIps: [prefix],
            replaceAllowedIps: false,
            remove: false,
            updateOnly: true,
          },
        ],
      },
      this.budget,
    );
    try {
      await this.conn.request({ type, flags: 0, payload: message!.payload, describe: `probe allowed-IP removal on WireGuard ${name}` });
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      if (err.errno !== EINVAL && err.errno !== EOPNOTSUPP) throw err;
      return (this.removal = {
        supported: false,
        why: `the kernel refused WGALLOWEDIP_A_FLAGS (${err.code}${err.extack ? `: ${err.extack}` : ''})`,
      });
    }
    const after = (await this.get(name)).peers.find((p) => p.publicKey.equals(peer));
    const still = after?.allowedIps.some(
      (a) => a.family === prefix.family && a.length === prefix.length && a.address.equals(prefix.address),
    );
    return (this.removal = still
      ? { supported: false, why: 'the kernel ignored WGALLOWEDIP_F_REMOVE_ME' }
      : { supported: true, why: 'the kernel removes allowed IPs flagged WGALLOWEDIP_F_REMOVE_ME' });
  }

  async get(name: string): Promise<RawDevice> {
    const type = await this.familyId();
    const messages: NetlinkMessage[] = await this.conn.dumpAll({
      type,
      flags: 0,
      payload: encodeGetDevice({ ifname: name }),
      describe: `read WireGuard ${name}`,
      access: 'read',
    });
    return mergeDump(messages.filter((m) => m.type === type).map((m) => m.data));
  }
}

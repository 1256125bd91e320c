/**
 * The few rtnetlink link operations WireGuard needs (create a link of kind
 * wireguard, delete one, look links up by name, set one up), declared here on
 * the core's codec so this module does not depend on src/route.
 * Numbers: linux/rtnetlink.h, linux/if_link.h, linux/if.h.
 */
import { NetlinkError } from '../errors.js';
import { attrs } from '../netlink/attributes.js';
import type { Connection } from '../netlink/connection.js';
import { NLM_F_CREATE, NLM_F_EXCL } from '../netlink/constants.js';
import { messageCodec } from '../netlink/message.js';
import { struct } from '../netlink/struct.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const IFF_UP = 0x1;
const ENODEV = 19;

const ifinfomsg = struct('ifinfomsg', { family: 'u8', pad: { pad: 1 }, type: 'u16', index: 's32', flags: 'u32', change: 'u32' });

const linkInfo = attrs('linkinfo', {
  kind: { type: 1, kind: 'string' }, // IFLA_INFO_KIND
});

const linkAttrs = attrs('link', {
  ifname: { type: 3, kind: 'string' }, // IFLA_IFNAME
  linkinfo: { type: 18, kind: 'nested', schema: linkInfo }, // IFLA_LINKINFO
});

const linkMessage = messageCodec(ifinfomsg, linkAttrs);

export interface LinkInfo {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'wireguard' for the kernel module, 'tun' for wireguard-go. */
  kind?: string;
  up: boolean;
}

function toLink(payload: Buffer): LinkInfo {
  const { header, attrs: a } = linkMessage.decode(payload);
  return { index: header.index, name: a.ifname ?? '', kind: a.linkinfo?.kind, up: (header.flags & IFF_UP) !== 0 };
}

/** The link called `name`, or undefined when there is none in the connection's namespace. */
export async function getLink(conn: Connection, name: string): Promise<LinkInfo | undefined> {
  try {
    const replies = await conn.request(linkMessage.request(RTM_GETLINK, 0, {}, { ifname: name }, `look up link ${name}`, 'read'));
    const reply = replies[0];
    return reply ? toLink(reply.data) : undefined;
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === ENODEV) return undefined;
    throw err;
  }
}

/** Every link of the connection's namespace. */
export async function listLinks(conn: Connection): Promise<LinkInfo[]> {
  const messages = await conn.dumpAll(linkMessage.request(RTM_GETLINK, 0, {}, {}, 'dump links', 'read'));
  return messages.filter((m) => m.type === RTM_NEWLINK).map((m) => toLink(m.data));
}

/** RTM_NEWLINK of kind wireguard (EEXIST when the name is taken, EOPNOTSUPP without the module). */
export async function createWireGuardLink(conn: Connection, name: string): Promise<void> {
  await conn.request(
    linkMessage.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      {},
      { ifname: name, linkinfo: { kind: 'wireguard' } },
      `create WireGuard link ${name}`,
    ),
  );
}

/** RTM_DELLINK by index. */
export async function deleteLink(conn: Connection, index: number, name: string): Promise<void> {
  await conn.request(linkMessage.request(RTM_DELLINK, 0, { index }, {}, `delete link ${name}`));
}

/** Sets IFF_UP on a link. */
export async function setLinkUp(conn: Connection, index: number, name: string): Promise<void> {
  await conn.request(linkMessage.request(RTM_NEWLINK, 0, { index, flags: IFF_UP, change: IFF_UP }, {}, `set link ${name} up`));
}

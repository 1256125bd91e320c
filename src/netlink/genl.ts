/**
 * Generic netlink: the genlmsghdr and family resolution through nlctrl
 * (linux/genetlink.h). Resolved families are cached per connection.
 */
import { attrs } from './attributes.js';
import type { Connection } from './connection.js';
import { GENL_ID_CTRL } from './constants.js';
import { messageCodec } from './message.js';
import { struct } from './struct.js';

/** struct genlmsghdr */
export const genlmsghdr = struct('genlmsghdr', { cmd: 'u8', version: 'u8', reserved: 'u16' });

const CTRL_CMD_GETFAMILY = 3;

const mcastGroup = attrs('ctrl_mcast_group', {
  name: { type: 1, kind: 'string' },
  id: { type: 2, kind: 'u32' },
});

const ctrlAttrs = attrs('ctrl', {
  familyId: { type: 1, kind: 'u16' },
  familyName: { type: 2, kind: 'string' },
  version: { type: 3, kind: 'u32' },
  hdrsize: { type: 4, kind: 'u32' },
  maxattr: { type: 5, kind: 'u32' },
  mcastGroups: { type: 7, kind: 'array', element: mcastGroup, elementType: 'index1' },
});

export const ctrlMessage = messageCodec(genlmsghdr, ctrlAttrs);

export interface GenlFamily {
  name: string;
  id: number;
  version: number;
  hdrsize: number;
  maxattr: number;
  /** Multicast group ids by name. */
  groups: Record<string, number>;
}

const cache = new WeakMap<Connection, Map<string, Promise<GenlFamily>>>();

/** Looks up a generic netlink family by name; ENOENT (a NetlinkError) when the kernel has none. */
export function resolveFamily(conn: Connection, name: string): Promise<GenlFamily> {
  let families = cache.get(conn);
  if (!families) cache.set(conn, (families = new Map()));
  let found = families.get(name);
  if (!found) {
    found = (async () => {
      const replies = await conn.request(
        ctrlMessage.request(
          GENL_ID_CTRL,
          0,
          { cmd: CTRL_CMD_GETFAMILY, version: 1 },
          { familyName: name },
          `resolve generic netlink family ${name}`,
          'read',
        ),
      );
      const reply = replies[0];
      if (!reply) throw new Error(`nlctrl sent no reply for family ${name}`);
      const { attrs: a } = ctrlMessage.decode(reply.data);
      const groups: Record<string, number> = {};
      for (const g of a.mcastGroups ?? []) if (g.name !== undefined && g.id !== undefined) groups[g.name] = g.id;
      return { name, id: a.familyId ?? 0, version: a.version ?? 0, hdrsize: a.hdrsize ?? 0, maxattr: a.maxattr ?? 0, groups };
    })();
    families.set(name, found);
    // A failed lookup is not cached: the module may be loaded later.
    found.catch(() => families!.delete(name));
  }
  return found;
}

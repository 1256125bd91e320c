/**
 * Streams a dump as decoded objects: each message is decoded once, and its
 * identity (for the connection's DUMP_INTR retry, which skips objects already
 * yielded) is computed from the decoded value.
 */
import type { Connection } from '../netlink/connection.js';
import type { NetlinkMessage, Request } from '../netlink/message.js';

export async function* dumpDecoded<T>(
  conn: Connection,
  req: Request,
  decode: (m: NetlinkMessage) => T | undefined,
  key: (value: T) => string,
): AsyncGenerator<T, void, undefined> {
  let lastMsg: NetlinkMessage | undefined;
  let lastValue: T | undefined;
  const get = (m: NetlinkMessage): T | undefined => {
    if (m !== lastMsg) {
      lastMsg = undefined; // a throwing decode must not leave a stale pairing behind
      lastValue = decode(m);
      lastMsg = m;
    }
    return lastValue;
  };
  const keyOf = (m: NetlinkMessage): string => {
    const v = get(m);
    return v === undefined ? `other:${m.type}:${m.data.toString('base64')}` : key(v);
  };
  for await (const m of conn.dump(req, { key: keyOf })) {
    const v = get(m);
    if (v !== undefined) yield v;
  }
}

/** Socket selectors: `socket cgroupv2 level 2`, `socket transparent`, `socket mark`. */
import { DATATYPES, integerType } from '../datatype.js';
import { SOCKET_KEY_NAMES } from '../expr/socket.js';
import type { KeyDef, KeyProvider } from './key.js';

const socketDefs = new Map<string, KeyDef>();

function socketKeyDef(key: number, level?: number): KeyDef {
  const id = `${key}/${level}`;
  let def = socketDefs.get(id);
  if (def) return def;
  const name = SOCKET_KEY_NAMES[key]!;
  const type = key === 1 ? DATATYPES.mark : key === 3 ? DATATYPES.cgroupsv2 : integerType(1, 'host');
  def = {
    text: key === 3 ? `socket cgroupv2 level ${level}` : `socket ${name}`,
    type,
    len: type.len,
    load: (dreg) => (key === 3 ? { name: 'socket', key, dreg, level } : { name: 'socket', key, dreg }),
  };
  socketDefs.set(id, def);
  return def;
}

export const socketKeys: KeyProvider = {
  parse(text) {
    const cg = /^socket cgroupv2 level (\d+)$/.exec(text);
    if (cg) {
      const level = Number(cg[1]);
      return level >= 0 && level <= 255 ? socketKeyDef(3, level) : undefined;
    }
    const m = /^socket (transparent|mark|wildcard)$/.exec(text);
    return m ? socketKeyDef(SOCKET_KEY_NAMES.indexOf(m[1] as 'mark')) : undefined;
  },
  recognize(e) {
    if (e.name !== 'socket' || e.key > 3) return undefined;
    if (e.key === 3 && e.level === undefined) return undefined;
    const def = socketKeyDef(e.key, e.key === 3 ? e.level : undefined);
    return { def, len: def.len };
  },
};

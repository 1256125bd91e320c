/** notrack: exempt the packet from connection tracking. */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr } from './common.js';

export interface NotrackExpr {
  name: 'notrack';
}

const schema = attrs('notrack', {});

export const notrackCodec = defineExpr<NotrackExpr, typeof schema._values & {}>(
  'notrack',
  schema,
  () => ({}),
  () => ({ name: 'notrack' }),
  () => 'notrack',
);

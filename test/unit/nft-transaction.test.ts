/**
 * src/nft/transaction.ts without a kernel: input checked when a call is made,
 * priorities, errors that name the call, and element lists split under the
 * 64 KiB attribute limit.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { nftExpr as x } from '../../src/nft/builder.js';
import { NFT_MSG_NEWRULE, NFT_MSG_NEWSETELEM } from '../../src/nft/constants.js';
import { locateInRule, msgType } from '../../src/nft/messages.js';
import { priorityText } from '../../src/nft/ruleset-text.js';
import { NftTransaction, parsePriority } from '../../src/nft/transaction.js';

test('transaction calls check their input when made, before anything is sent', (t) => {
  const tx = new NftTransaction();
  t.throws(() => tx.addTable({ family: 'ipx' as 'ip', name: 't' }), { instanceOf: ValidationError, message: /addTable.family/ });
  t.throws(() => tx.addTable({ family: 'ip', name: 't', comment: 'x'.repeat(200) }), { instanceOf: ValidationError, message: /too long/ });
  t.throws(() => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'ingress', priority: 0 }), {
    message: /unknown hook "ingress" for the ip family/,
  });
  t.throws(() => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', priority: 'fliter' }), {
    message: /invalid priority/,
  });
  t.throws(() => tx.addSet({ family: 'ip', table: 't', name: 's', keyType: 'ipv4_adr' }), { message: /unknown type "ipv4_adr"/ });
  const e = t.throws(
    () => tx.addSet({ family: 'ip', table: 't', name: 's', keyType: 'ipv4_addr', elements: [{ key: '10.0.0.1' }, { key: '10.0.0.0/24' }] }),
    {
      instanceOf: ValidationError,
    },
  );
  t.is(e!.field, 'addSet.elements[1].key');
  t.throws(
    () =>
      tx.addSet({
        family: 'ip',
        table: 't',
        name: 's',
        keyType: 'ipv4_addr',
        flags: ['interval'],
        elements: [{ key: '10.0.0.0/24' }, { key: '10.0.0.5' }],
      }),
    {
      message: /overlaps/,
    },
  );
  t.is(tx.ops.length, 0, 'nothing was recorded');
  // Rules that use unknown sets fail when the batch is built, still before sending.
  tx.addRule({ family: 'ip', table: 't', chain: 'c', expr: [x.ip.saddr.in('@nosuch')] });
  t.throws(() => tx.build([]), { message: /addRule#0.expr\[0\]\.value\.set: unknown set "nosuch"/ });
});

test('priorities: names with offsets, both ways', (t) => {
  t.is(parsePriority('dstnat', 'ip', 'p'), -100);
  t.is(parsePriority('filter + 10', 'inet', 'p'), 10);
  t.is(parsePriority('mangle - 5', 'ip', 'p'), -155);
  t.is(parsePriority('filter', 'bridge', 'p'), -200);
  t.is(priorityText(-105, 'ip', 'prerouting'), 'dstnat - 5');
  t.is(priorityText(10, 'inet', 'forward'), 'filter + 10');
  t.is(priorityText(100, 'ip', 'postrouting'), 'srcnat');
  t.is(priorityText(-400, 'ip', 'input'), '-400');
});

test('errors name the call: the description renders the rule only when asked', (t) => {
  const tx = new NftTransaction();
  tx.addTable({ family: 'inet', name: 'netfwd' });
  const op = tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.ct.status.any('dnat'), x.accept()], comment: 'dnat' });
  t.is(op.describe, 'tx call #1 addRule: inet netfwd fw: ct status dnat accept comment "dnat"');
  const { requests } = tx.build([]);
  t.is(requests[1]!.describe, op.describe);
  t.is(requests[1]!.type, msgType(NFT_MSG_NEWRULE));
  // Extended-ACK offsets map back to expression fields.
  const payload = requests[1]!.payload;
  const at = payload.indexOf(Buffer.from('ct\0'));
  t.regex(locateInRule(payload, at) ?? '', /^expressions\[0\]\.ct$/);
});

test('long element lists are split into several messages of one batch, each under 64 KiB', (t) => {
  const tx = new NftTransaction();
  const elements = Array.from({ length: 6000 }, (_, i) => ({
    key: ['203.0.113.1', 'tcp', 1000 + i] as const,
    data: ['10.0.0.2', 1000 + i] as const,
  }));
  tx.addSet({
    family: 'inet',
    table: 't',
    name: 'm',
    keyType: ['ipv4_addr', 'inet_proto', 'inet_service'],
    dataType: ['ipv4_addr', 'inet_service'],
    flags: ['interval'],
    elements: elements.map((e) => ({ key: [...e.key], data: [...e.data] })),
  });
  const op = tx.addElements({
    family: 'inet',
    table: 't',
    set: 'm',
    elements: [{ key: ['198.51.100.1', 'udp', 53], data: ['10.0.0.3', 53] }],
  });
  const { requests, owners } = tx.build([]);
  const elems = requests.filter((r) => r.type === msgType(NFT_MSG_NEWSETELEM));
  t.true(elems.length >= 5, `${elems.length} messages`);
  for (const r of elems) t.true(r.payload.length < 65535 + 64);
  t.is(owners.filter((o) => o === op.index).length, 1, 'one more element: one message');
  t.regex(elems[0]!.describe!, /\[elements 0\.\.\d+\]$/);
});

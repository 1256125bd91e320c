/** src/nft/datatype.ts: the IPv4 fast path agrees with the strict parser. */
import test from 'ava';
import { DATATYPES, fastIPv4 } from '../../src/nft/datatype.js';

test('the IPv4 fast path agrees with the strict parser', (t) => {
  for (const s of ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.', '256.1.1.1', '1..2.3', '']) {
    const fast = fastIPv4(s);
    let strict: Buffer | undefined;
    try {
      strict = DATATYPES.ipv4_addr.parse(s, 'a');
    } catch {
      strict = undefined;
    }
    if (fast) t.deepEqual(fast, strict, s);
    else t.true(strict === undefined || s === '', s);
  }
});

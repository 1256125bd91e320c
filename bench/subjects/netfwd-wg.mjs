// netfwd: the N peers of a peers file (JSON, written by bench/cases/wireguard.ts)
// onto a running wireguard-go interface (or, with a 4th argument 'kernel', a
// kernel WireGuard link) through WireGuard.configure, replacing
// everything as `wg setconf` does. Timed: WireGuard.open + configure; reading
// the JSON file happens before (wg's parsing of its file is part of its time).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report, workDone } from './_load.mjs';

const { WireGuard } = await loadNetfwd();
const [ns, name, file, implementation = 'userspace'] = process.argv.slice(2);
const input = JSON.parse(readFileSync(file, 'utf8'));
const config = {
  privateKey: input.privateKey,
  listenPort: input.listenPort,
  replacePeers: true,
  peers: input.peers.map((p) => ({
    publicKey: p.publicKey,
    endpoint: p.endpoint,
    persistentKeepalive: p.persistentKeepalive,
    allowedIps: p.allowedIps,
    replaceAllowedIps: true,
  })),
};
const t0 = performance.now();
const wg = await WireGuard.open({ netns: ns, implementation, daemonLog: null });
await wg.configure(name, config);
const opMs = performance.now() - t0;
workDone();
// The same configuration again in the same process, on a warm JIT (peers removed first, not timed).
// Not on a kernel link: the kernel removes peers one RCU grace period each
// (netif_napi_del), minutes for 10 000 in an emulated guest.
let warmMs;
if (implementation !== 'kernel') {
  await wg.configure(name, { replacePeers: true, peers: [] });
  const t1 = performance.now();
  await wg.configure(name, config);
  warmMs = performance.now() - t1;
}
wg.close();
report({ opMs, ...(warmMs !== undefined ? { warmMs } : {}) });

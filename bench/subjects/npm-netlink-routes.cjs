// The npm `netlink` package (installed by the harness into bench/.peers), run
// inside the namespace by `ip netns exec` because it cannot open sockets in another.
const { performance } = require('node:perf_hooks');
const { createRtNetlink } = require(process.env.NETLINK_PEER);
const count = Number(process.argv[2]);
(async () => {
  const t0 = performance.now();
  const sock = createRtNetlink();
  const pending = [];
  for (let i = 0; i < count; i++) {
    const dst = Buffer.from([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]);
    pending.push(
      sock.newRoute({ family: 2, dstLen: 32, table: 0, protocol: 4, scope: 0, type: 1 }, { dst, oif: 1, table: 5000 }, { flags: 0x600 }),
    );
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const opMs = performance.now() - t0;
  sock.socket.close?.();
  console.log(JSON.stringify({ opMs }));
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

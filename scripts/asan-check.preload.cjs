/**
 * Loaded into every node process of an asan-check run (NODE_OPTIONS=--require).
 * The sanitizer runtime is preloaded (LD_PRELOAD) for node, which loads the
 * instrumented addon; the programs the tests start (ip, nft, wg, sh...) are not
 * ours and must run as usual, so LD_PRELOAD is taken out of their environment.
 * Node children keep it, also when started through another program (`ip netns
 * exec NS node …`): they may load the addon too, and an instrumented addon
 * does not load without the runtime.
 */
'use strict';
const cp = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

const isNode = (file) => file === process.execPath || /(^|\/)node$/.test(String(file));
// `ip netns exec NS node …`, `nsenter --net=… node …`, `setpriv … node …`: node started through another program.
const startsNode = (file, rest) => isNode(file) || (Array.isArray(rest[0]) && rest[0].some((a) => isNode(a)));
const withoutPreload = (env) => {
  const out = { ...(env ?? process.env) };
  delete out.LD_PRELOAD;
  return out;
};
const isOptions = (a) => a !== null && typeof a === 'object' && !Array.isArray(a);

for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) {
  const original = cp[name];
  cp[name] = function (file, ...rest) {
    if (!startsNode(file, rest)) {
      const i = rest.findIndex(isOptions);
      if (i === -1) rest.splice(Array.isArray(rest[0]) ? 1 : 0, 0, { env: withoutPreload() });
      else rest[i] = { ...rest[i], env: withoutPreload(rest[i].env) };
    }
    return original.call(this, file, ...rest);
  };
}
for (const name of ['exec', 'execSync']) {
  const original = cp[name];
  cp[name] = function (command, ...rest) {
    const i = rest.findIndex(isOptions);
    if (i === -1) rest.splice(0, 0, { env: withoutPreload() });
    else rest[i] = { ...rest[i], env: withoutPreload(rest[i].env) };
    return original.call(this, command, ...rest);
  };
}
syncBuiltinESMExports();

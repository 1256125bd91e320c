/**
 * The layers of src/ and the rules that keep them: `npm run deps` (run by `npm test` and CI).
 *
 * Floors, from the bottom up; a file may import only from its own floor or below:
 *   0  src/native.ts, src/errno.ts, src/grammar/   the addon loader, errno names, the text grammars
 *   1  src/errors.ts                               the typed errors every layer throws
 *   2  src/netns/                                  network namespaces (entering, running in one)
 *   3  src/netlink/                                sockets, messages, attributes, dumps, bulk, monitors
 *   4  src/route/ | src/nft/ | src/wireguard/      rtnetlink, nf_tables, WireGuard — siblings, no arrows between them
 *   5  src/forward/ | src/lab/                     the ServiceForward planner and applier; the test topology
 *   6  src/import/, src/demo/, src/index.ts        recipe importer, demo, the public entry point
 *   7  src/cli/                                    the netfwd command
 * Inside a folder the sub-layers are written as rules further down.
 */
const floors = [
  ['^src/(native|errno)\\.ts$', '^src/grammar/'],
  ['^src/errors\\.ts$'],
  ['^src/netns/'],
  ['^src/netlink/'],
  ['^src/(route|nft|wireguard)/'],
  ['^src/(forward|lab)/'],
  ['^src/(import|demo)/', '^src/index\\.ts$'],
  ['^src/cli/'],
];

const upward = floors.flatMap((paths, floor) => {
  const above = floors.slice(floor + 1).flat();
  if (above.length === 0) return [];
  return [
    {
      name: `floor-${floor}-looks-up`,
      comment: `floor ${floor} (${paths.join(', ')}) must not import a higher floor`,
      severity: 'error',
      from: { path: paths },
      to: { path: above },
    },
  ];
});

const siblings = ['route', 'nft', 'wireguard'].map((name) => ({
  name: `${name}-imports-a-sibling`,
  comment: `src/${name}/ must not import its siblings on floor 4`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: `^src/(route|nft|wireguard)/`, pathNot: `^src/${name}/` },
}));

// Sub-layers inside folders: [lower, higher] pairs — the lower never imports the higher.
const inner = [
  ['^src/grammar/', '^src/(?!grammar/)'],
  ['^src/nft/expr/', '^src/nft/(?!expr/)'],
  ['^src/nft/selectors/', '^src/nft/(stmt/|linearize|delinearize|builder|transaction|batch|nft\\.ts)'],
  ['^src/nft/stmt/', '^src/nft/(linearize|delinearize|builder|transaction|batch|nft)\\.ts$'],
  ['^src/nft/sets/', '^src/nft/(stmt/(?!context)|linearize|delinearize|builder|transaction|batch|nft\\.ts)'],
  // the fake socket is for tests only
  ['^src/(?!netlink/testing\\.ts$)', '^src/netlink/testing\\.ts$'],
  ['^src/forward/spec/', '^src/forward/(?!spec/)'],
  ['^src/forward/plan/', '^src/forward/(status/|service-forward|supervisor)'],
  ['^src/forward/status/', '^src/forward/(service-forward|supervisor)'],
  ['^src/wireguard/kernel/', '^src/wireguard/userspace/'],
  ['^src/wireguard/userspace/', '^src/wireguard/kernel/'],
].map(([lower, higher], i) => ({
  name: `inner-${i}-looks-up`,
  comment: `${lower} must not import ${higher}`,
  severity: 'error',
  from: { path: lower },
  to: { path: higher },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import loops, type-only imports included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'every relative import resolves to a file',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
    ...upward,
    ...siblings,
    ...inner,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    exclude: { path: '^(node_modules|dist|build)/' },
  },
};

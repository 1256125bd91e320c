#!/usr/bin/env bash
# Builds the addon once with AddressSanitizer + LeakSanitizer (`node-gyp
# rebuild --asan=1`) in a scratch directory — the normal build/ is never
# touched, so nothing needs restoring — and runs the integration suite (or
# the ava files given as arguments) with that build: NETFWD_ADDON points at
# it and the compiler's libasan is preloaded, since node itself is not
# instrumented.
#
# Leaks are judged by their stacks: node, V8 and the test oracles (ip, nft,
# wg...) leak at exit by design and run under the preloaded runtime too, so
# only leak reports with a frame in the addon (netfwd.node, native/*.cc)
# count. The programs the tests start (ip, nft, wg...) run without the
# runtime (scripts/asan-check.preload.cjs takes LD_PRELOAD out of their
# environment: iproute2's `ip`, for one, trips ASan's strncpy overlap check
# on every route it prints). Should a foreign error still show, it is
# reported without stopping the process (halt_on_error=0); only errors with a
# frame in the addon fail the check.
#
#   scripts/asan-check.sh [ava files or directories...]     (default: test/integration)
#   KEEP_ASAN_LOGS=1 keeps the scratch directory and its logs.
#
# Needs g++ and its libasan (Debian: the gcc package brings libasan8).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/netfwd-asan.XXXXXX)
if [ "${KEEP_ASAN_LOGS:-}" = 1 ]; then echo "scratch directory: $work"; else trap 'rm -rf "$work"' EXIT; fi

libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
  echo "asan-check: the compiler's libasan.so was not found (Debian: apt-get install gcc, which brings libasan8)" >&2
  exit 2
fi

echo "asan-check: building the addon with -fsanitize=address in $work"
cp -r "$root/binding.gyp" "$root/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
# npm passes its nodedir setting (the installed node headers) to node-gyp; do the same.
nodedir=${npm_config_nodedir:-$(cd "$root" && npm config get nodedir 2>/dev/null)}
gypflags=(--asan=1)
[ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ] && gypflags+=("--nodedir=$nodedir")
if ! (cd "$work" && "$root/node_modules/.bin/node-gyp" rebuild "${gypflags[@]}" >"$work/build.log" 2>&1); then
  cat "$work/build.log" >&2
  echo "asan-check: the sanitizer build failed" >&2
  exit 2
fi
addon="$work/build/Release/netfwd.node"
if ! nm -D "$addon" | grep -c __asan_ >/dev/null; then
  echo "asan-check: $addon is not instrumented" >&2
  exit 2
fi

# The runtime must really be in the process and the instrumented addon must load and work.
if ! LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0 node -e '
  const addon = require(process.argv[1]);
  if (!require("node:fs").readFileSync("/proc/self/maps", "utf8").includes("libasan")) process.exit(3);
  new addon.NetlinkSocket(0).close();
' "$addon"; then
  echo "asan-check: the instrumented addon does not load under the sanitizer runtime" >&2
  exit 2
fi

logs="$work/logs"
mkdir -p "$logs"
suite=("$@")
[ ${#suite[@]} -eq 0 ] && suite=(test/integration)
echo "asan-check: running ${suite[*]} with $addon and LD_PRELOAD=$libasan"
started=$(date +%s)
(
  cd "$root" &&
    NETFWD_ADDON="$addon" \
      LD_PRELOAD="$libasan" \
      NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require=$root/scripts/asan-check.preload.cjs" \
      ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:halt_on_error=0:detect_odr_violation=0:fast_unwind_on_malloc=0:malloc_context_size=30:allocator_may_return_null=1" \
      LSAN_OPTIONS="exitcode=0:report_objects=0" \
      node_modules/.bin/ava --timeout=5m "${suite[@]}"
)
status=$?
elapsed=$(($(date +%s) - started))

# One report per process (asan.PID). Split the leak reports into their stacks.
node - "$logs" "$status" "$elapsed" <<'EOF'
const { readdirSync, readFileSync } = require('node:fs');
const [dir, status, elapsed] = process.argv.slice(2);
const files = readdirSync(dir);
let errors = 0, foreign = 0, ours = 0, ignored = 0, ignoredBytes = 0;
const foreignKinds = new Set();
const shown = [];
const isOurs = (text) => /netfwd\.node|native\/[a-z_]+\.(cc|h)/.test(text);
for (const f of files) {
  const text = readFileSync(`${dir}/${f}`, 'utf8');
  for (const m of text.matchAll(/ERROR: AddressSanitizer: [^\n]*/g)) {
    const report = text.slice(m.index, text.indexOf('SUMMARY:', m.index) + 200);
    if (isOurs(report)) {
      errors++;
      shown.push(`${f}: ${report}`);
    } else {
      foreign++;
      foreignKinds.add(`${m[0].replace('ERROR: AddressSanitizer: ', '').split(':')[0]} in ${/ in \S+ \(([^)+]+)/.exec(report)?.[1] ?? /\((\/[^)+]+)/.exec(report)?.[1] ?? '?'}`);
    }
  }
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/).filter((b) => /^(Direct|Indirect) leak of/.test(b))) {
    const bytes = Number(/leak of (\d+) byte/.exec(block)?.[1] ?? 0);
    if (isOurs(block)) {
      ours++;
      shown.push(`${f}: ${block.slice(0, 3000)}`);
    } else {
      ignored++;
      ignoredBytes += bytes;
    }
  }
}
for (const s of shown) console.log(s);
console.log(`asan-check: ${files.length} sanitizer reports (processes that wrote one); ${errors} AddressSanitizer errors in the addon; ` +
  `${foreign} outside it (${[...foreignKinds].join(', ') || 'none'}); ` +
  `${ours} leaks in the addon; ${ignored} leaks outside it ignored (node/V8/tools at exit, ${ignoredBytes} bytes); test run exit ${status}; ${elapsed} s`);
process.exitCode = errors === 0 && ours === 0 && status === '0' ? 0 : 1;
EOF

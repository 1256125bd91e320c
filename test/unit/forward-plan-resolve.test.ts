/**
 * Endpoints given as host names: what validation accepts and keeps, and how
 * resolveEndpoints turns the name into an address with an injected resolver
 * (the system's resolver would need names this machine does not have; the
 * kernel side is tested in test/integration/cli-run-resolve.test.ts).
 */
import test from 'ava';
import { hostnameEndpoint, isUnresolved, ResolveError, type Resolver, resolveEndpoints } from '../../src/forward/plan/resolve.js';
import type { NormalizedBackend } from '../../src/forward/spec/normalized-config.js';
import type { BackendSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { backendSpec } from '../fixtures/invalid-specs/base.js';

function spec(endpoint: string, endpointFamily?: 4 | 6): NormalizedBackend {
  const s = backendSpec() as BackendSpec;
  s.tunnel!.peer!.endpoint = endpoint;
  if (endpointFamily) s.tunnel!.peer!.endpointFamily = endpointFamily;
  return validateSpec(s) as NormalizedBackend;
}

/** A resolver answering from a table, recording its calls. */
function table(answers: Record<string, string[] | Error>): Resolver & { calls: Array<[string, number]> } {
  const calls: Array<[string, number]> = [];
  const r = (async (name: string, family: 0 | 4 | 6) => {
    calls.push([name, family]);
    const a = answers[name];
    if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    if (a instanceof Error) throw a;
    return a.filter((x) => family === 0 || (family === 4) === !x.includes(':'));
  }) as Resolver & { calls: Array<[string, number]> };
  r.calls = calls;
  return r;
}

test('validation keeps a host name endpoint (lower case, without the trailing dot) for resolution', (t) => {
  const c = spec('VPN.Example.org.:51820');
  t.deepEqual(c.tunnel.peer!.endpoint, {
    family: 4,
    host: 'vpn.example.org',
    port: 51820,
    text: 'vpn.example.org:51820',
    hostname: 'vpn.example.org',
  });
  t.true(isUnresolved(c.tunnel.peer!.endpoint));
  t.is(hostnameEndpoint(c), c.tunnel.peer!.endpoint);
  t.is(spec('vpn.example.org:51820', 6).tunnel.peer!.endpoint.preferFamily, 6);
  t.is(hostnameEndpoint(spec('203.0.113.1:51820')), undefined);
});

test('resolveEndpoints puts the first answer in, keeps the name, and leaves the input config alone', async (t) => {
  const c = spec('vpn.example.org:51820');
  const r = table({ 'vpn.example.org': ['203.0.113.7', '2001:db8::7'] });
  const resolved = (await resolveEndpoints(c, { resolver: r })) as NormalizedBackend;
  t.deepEqual(resolved.tunnel.peer!.endpoint, {
    family: 4,
    host: '203.0.113.7',
    port: 51820,
    text: '203.0.113.7:51820',
    hostname: 'vpn.example.org',
  });
  t.deepEqual(r.calls, [['vpn.example.org', 0]]);
  t.is(c.tunnel.peer!.endpoint.host, 'vpn.example.org', 'the validated config is not changed');
  // A resolved config is not resolved again (netfwd run decides when to).
  t.is(await resolveEndpoints(resolved, { resolver: r }), resolved);
  t.is(r.calls.length, 1);
  // An IP endpoint: nothing to resolve, the same object.
  const ip = spec('203.0.113.1:51820');
  t.is(await resolveEndpoints(ip, { resolver: r }), ip);
});

test('endpointFamily 6 asks for IPv6 and writes the address canonically, in brackets', async (t) => {
  const r = table({ 'vpn.example.org': ['2001:DB8:0:0::7'] });
  const resolved = (await resolveEndpoints(spec('vpn.example.org:51820', 6), { resolver: r })) as NormalizedBackend;
  t.deepEqual(r.calls, [['vpn.example.org', 6]]);
  t.like(resolved.tunnel.peer!.endpoint, { family: 6, host: '2001:db8::7', text: '[2001:db8::7]:51820' });
});

test('unusable answers are skipped; none usable is a ResolveError naming why', async (t) => {
  const skipLoopback = table({ 'vpn.example.org': ['127.0.1.1', '10.0.0.9', '198.51.100.9'] });
  const ok = (await resolveEndpoints(spec('vpn.example.org:51820'), { resolver: skipLoopback })) as NormalizedBackend;
  t.is(ok.tunnel.peer!.endpoint.text, '198.51.100.9:51820');

  const bad = table({ 'vpn.example.org': ['127.0.0.1', '10.0.0.9', '::'] });
  const err = await t.throwsAsync(resolveEndpoints(spec('vpn.example.org:51820'), { resolver: bad }), { instanceOf: ResolveError });
  t.is(err!.field, 'tunnel.peer.endpoint');
  t.is(err!.hostname, 'vpn.example.org');
  t.regex(err!.message, /127\.0\.0\.1 is not a host address/);
  t.regex(err!.message, /10\.0\.0\.9 is inside the tunnel subnet 10\.0\.0\.2\/24/);

  const onlyV4 = table({ 'vpn.example.org': ['203.0.113.7'] });
  await t.throwsAsync(resolveEndpoints(spec('vpn.example.org:51820', 6), { resolver: onlyV4 }), {
    instanceOf: ResolveError,
    message: /no IPv6 address/,
  });
});

test('a name that does not resolve is a ResolveError with the resolver code', async (t) => {
  const err = await t.throwsAsync(resolveEndpoints(spec('nowhere.example.org:51820'), { resolver: table({}) }), {
    instanceOf: ResolveError,
  });
  t.is(err!.reason, 'ENOTFOUND');
  t.regex(err!.message, /^tunnel\.peer\.endpoint: cannot resolve nowhere\.example\.org: ENOTFOUND$/);
});

test('the system resolver is the default (a numeric name resolves without DNS)', async (t) => {
  // getaddrinfo answers an address literal itself: no DNS server or /etc/hosts entry is involved.
  const c = spec('vpn.example.org:51820');
  const viaSystem = {
    ...c,
    tunnel: { ...c.tunnel, peer: { ...c.tunnel.peer!, endpoint: { ...c.tunnel.peer!.endpoint, hostname: '198.51.100.4', host: 'x' } } },
  };
  const resolved = (await resolveEndpoints(viaSystem)) as NormalizedBackend;
  t.is(resolved.tunnel.peer!.endpoint.text, '198.51.100.4:51820');
});

// The data-plane client (bench/cases/dataplane.ts), run in the client namespace:
//   conn HOST PORT COUNT CONCURRENCY   COUNT short connections, CONCURRENCY at a time
//   tput HOST PORT MEGABYTES           one connection sending MEGABYTES, until the server's "ok"
// Reports opMs (the traffic only, node start-up excluded) and the rate.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const [mode, host, portText, amountText, concText] = process.argv.slice(2);
const port = Number(portText);
const amount = Number(amountText);

function oneConnection() {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port, noDelay: true });
    c.on('error', reject);
    c.on('data', () => undefined);
    c.on('close', (hadError) => (hadError ? reject(new Error('connection failed')) : resolve()));
    c.on('end', () => c.end());
  });
}

async function connections() {
  let started = 0;
  let failures = 0;
  const worker = async () => {
    while (started < amount) {
      started++;
      try {
        await oneConnection();
      } catch {
        failures++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Number(concText ?? 32) }, worker));
  const opMs = performance.now() - t0;
  if (failures) throw new Error(`${failures} of ${amount} connections failed`);
  return { opMs, perSecond: (amount * 1000) / opMs };
}

function transfer() {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 0x5a);
    const total = amount * 1024 * 1024;
    let sent = 0;
    let t0 = 0;
    const c = net.connect({ host, port }, () => {
      t0 = performance.now();
      pump();
    });
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!c.write(chunk)) return void c.once('drain', pump);
      }
      c.end();
    };
    let answer = '';
    c.on('data', (d) => (answer += d));
    c.on('error', reject);
    c.on('close', () => {
      const opMs = performance.now() - t0;
      if (answer !== 'ok') reject(new Error(`the server answered ${JSON.stringify(answer)}`));
      else resolve({ opMs, megabytesPerSecond: (amount * 1000) / opMs });
    });
  });
}

const result = mode === 'conn' ? await connections() : await transfer();
process.stdout.write(`${JSON.stringify(result)}\n`);

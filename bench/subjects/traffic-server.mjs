// The data-plane server (bench/cases/dataplane.ts), run in the server namespace:
//   conn PORT   accepts and closes at once (one short connection each)
//   sink PORT   reads a transfer to its end, then answers "ok" and closes
import net from 'node:net';

const [mode, portText] = process.argv.slice(2);
const server = net.createServer({ noDelay: true }, (c) => {
  c.on('error', () => undefined);
  if (mode === 'conn') {
    c.end();
    return;
  }
  c.on('data', () => undefined);
  c.on('end', () => c.end('ok'));
});
server.listen(Number(portText), '0.0.0.0', () => process.stdout.write('ready\n'));

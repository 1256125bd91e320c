/**
 * Small clients and servers for lab traffic, written to be run inside a
 * namespace with runInNetns/startInNetns: each stands alone (its imports are
 * dynamic), so its source can be sent to a worker thread.
 */

/** A TCP request: what the server sent back before closing, "(timeout)" or "(error CODE)". */
export async function tcpAsk(arg: { host: string; port: number; send?: string; timeoutMs?: number }): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const c = net.connect(arg.port, arg.host);
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve('(timeout)');
    }, arg.timeoutMs ?? 5000);
    c.on('connect', () => {
      if (arg.send) c.write(arg.send);
    });
    c.on('data', (d) => (data += d));
    c.on('end', () => {
      clearTimeout(timer);
      resolve(data.trim());
    });
    c.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`(error ${err.code})`);
    });
  });
}

/** A UDP request ("hello"): the first answer, "(timeout)" or "(error CODE)". */
export async function udpAsk(arg: { host: string; port: number; timeoutMs?: number }): Promise<string> {
  const dgram = await import('node:dgram');
  return new Promise((resolve) => {
    const s = dgram.createSocket(arg.host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve('(timeout)');
    }, arg.timeoutMs ?? 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(String(m));
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.close();
      resolve(`(error ${err.code})`);
    });
    s.send('hello', arg.port, arg.host);
  });
}

/** A whoami server: answers each TCP connection with the address it came from; resolves with the port once listening. */
export async function whoami(port: number): Promise<number> {
  const net = await import('node:net');
  await new Promise<void>((resolve) =>
    net.createServer((c) => c.end(`${c.remoteAddress!.replace(/^::ffff:/, '')}\n`)).listen(port, '::', () => resolve()),
  );
  return port;
}

// Graceful shutdown of a listening server. Keep-alive connections with a request in flight at
// close() would hold the listener open after their response; answering those with
// `connection: close` lets close() finish once they are done. A socket with no request in flight
// (an idle keep-alive connection, or one that connected and sent nothing) would hold close() open
// for as long as the client keeps it: such sockets are destroyed at once, and the rest once their
// response is sent or when the grace period ends.
import type { Socket } from 'node:net';

import type { FastifyInstance } from 'fastify';

/** [sync] Installs connection draining on `app` (the instance that owns the listener). */
export function drainOnClose(app: FastifyInstance, shutdownGraceMs: number): void {
  let closing = false;
  const inFlight = new Map<Socket, number>();
  app.server.on('connection', (sock: Socket) => {
    inFlight.set(sock, 0);
    sock.once('close', () => inFlight.delete(sock));
  });
  // Only sockets of the listener are counted (inject() has none).
  app.addHook('onRequest', (req, _reply, done) => {
    const sock = req.raw.socket;
    const n = inFlight.get(sock);
    if (n !== undefined) inFlight.set(sock, n + 1);
    done();
  });
  app.addHook('onResponse', (req, _reply, done) => {
    const sock = req.raw.socket;
    const n = inFlight.get(sock);
    if (n !== undefined) {
      inFlight.set(sock, n - 1);
      if (closing && n === 1) sock.destroySoon();
    }
    done();
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const [sock, n] of inFlight) if (n === 0) sock.destroy();
    const timer = setTimeout(() => {
      if (inFlight.size > 0)
        app.log.warn(`shutdown grace of ${shutdownGraceMs} ms over: closing ${inFlight.size} connection(s)`);
      for (const sock of inFlight.keys()) sock.destroy();
    }, shutdownGraceMs);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

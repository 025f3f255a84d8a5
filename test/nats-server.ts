// A real `nats-server -js` for tests and the bench: a free loopback port, a temporary store
// directory, started and stopped by the caller (restartable on the same port and store, to test
// reconnects). Tests that need one fail, not skip, in CI (CI=true), where .ci/run installs it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The nats-server binary (NATS_SERVER overrides), or null when none is installed. */
export function natsServerBinary(): string | null {
  const bin = process.env.NATS_SERVER ?? 'nats-server';
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return bin;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export class NatsServer {
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly #bin: string;
  #proc: ChildProcess | null = null;
  #log = '';

  private constructor(bin: string, port: number) {
    this.#bin = bin;
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.storeDir = mkdtempSync(join(tmpdir(), 'fraudscore-nats-'));
  }

  /** [async] Starts a server on a free loopback port. @throws when nats-server is missing or does not start */
  static async start(bin = natsServerBinary()): Promise<NatsServer> {
    if (!bin) throw new Error('nats-server is not installed (apt-get install nats-server)');
    const s = new NatsServer(bin, await freePort());
    await s.restart();
    return s;
  }

  /** The server's output so far (for failure messages). */
  get log(): string {
    return this.#log;
  }

  /** [async] (Re)starts on the same port and store; resolves once it accepts clients (60 s at most). */
  async restart(): Promise<void> {
    if (this.#proc) throw new Error('nats-server is already running');
    const p = spawn(this.#bin, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#proc = p;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start in 60 s:\n${this.#log}`)), 60_000);
      const onData = (b: Buffer) => {
        this.#log += b.toString();
        if (this.#log.slice(-4096).includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${this.#log}`));
      });
    });
    // Keep draining its output so it never blocks on a full pipe.
    p.removeAllListeners('exit');
    p.once('exit', () => {
      if (this.#proc === p) this.#proc = null;
    });
  }

  /** [async] Stops the server (SIGTERM, SIGKILL after 10 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    this.#log = this.#log.slice(-65536);
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      p.kill('SIGTERM');
    });
    this.#proc = null;
  }

  /** [async] Stops the server and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

// The stream section: messages/s end to end (published -> scored result acknowledged by JetStream
// and seen by the producer) through fraudscore's stream worker, 1 and 2 worker processes, pull
// batch 1 / 64 / 1,024, against a bare consume-ack-republish loop with the same client, the same
// pull loop and the same nats-server in the same run (the broker's ceiling on this machine).
// The producer is closed-loop: it keeps `window` messages in the system (published, result not
// yet seen), enough to fill every worker's batches, so throughput is the pipeline's and the p99
// latency is the latency at that concurrency (Little's law: window / throughput), not a queue
// growing for as long as the run lasts.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { saveModel } from '../../src/model.js';
import { packageRoot } from '../../src/native.js';
import { NatsServer, natsServerBinary } from '../../test/nats-server.js';
import type { BenchData } from './data.js';

export const STREAM_BATCHES = [1, 64, 1024] as const;
export const STREAM_WORKERS = [1, 2] as const;

export interface StreamCell {
  mode: 'fraudscore' | 'bare';
  workers: number;
  batch: number;
  /** Messages kept in flight by the producer. */
  window: number;
  /** Results seen in the measuring window. */
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface StreamReport {
  status: 'ok' | 'skipped';
  reason?: string;
  nats?: string;
  storage: 'memory';
  warmupSeconds: number;
  measureSeconds: number;
  cells: StreamCell[];
  /** fraudscore / bare at each (workers, batch). */
  ratios: { workers: number; batch: number; ratio: number }[];
}

const enc = new TextEncoder();

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function spawnChild(args: string[]): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'bench/lib/stream-child.ts'), ...args], {
    cwd: packageRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stream bench worker did not start in 120 s:\n${log}`)), 120_000);
    p.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    p.stdout!.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.includes('ready')) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stream bench worker exited with ${code}:\n${log}`));
    });
  });
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.removeAllListeners('exit');
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

export async function runStream(opts: {
  data: BenchData;
  tmpDir: string;
  quick: boolean;
  log?: (line: string) => void;
}): Promise<StreamReport> {
  const warmupSeconds = opts.quick ? 0.3 : 0.7;
  const measureSeconds = opts.quick ? 1 : 2.5;
  const report: StreamReport = {
    status: 'ok',
    storage: 'memory',
    warmupSeconds,
    measureSeconds,
    cells: [],
    ratios: [],
  };
  const bin = natsServerBinary();
  if (!bin)
    return { ...report, status: 'skipped', reason: 'nats-server is not installed (apt-get install nats-server)' };
  const modelDir = join(opts.tmpDir, 'stream-model');
  const model = opts.data.model;
  if (!model.threshold)
    model.threshold = { value: 1, strategy: 'bench (not calibrated)' } as NonNullable<typeof model.threshold>;
  await saveModel(model, modelDir);
  const nats = await NatsServer.start(bin);
  report.nats = /nats-server: v?([\d.]+)/.exec(nats.log)?.[1] ?? nats.log.match(/Version:\s+(\S+)/)?.[1] ?? 'unknown';
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const d = model.features.length;
  const bodies = Array.from({ length: 4096 }, (_, i) =>
    Array.from(opts.data.rows.subarray((i % opts.data.n) * d, ((i % opts.data.n) + 1) * d)),
  );
  let k = 0;
  try {
    for (const batch of STREAM_BATCHES) {
      for (const workers of STREAM_WORKERS) {
        for (const mode of ['bare', 'fraudscore'] as const) {
          k++;
          const names = {
            stream: `BIN${k}`,
            subject: `bench${k}.in`,
            out: `BOUT${k}`,
            outSubject: `bench${k}.out`,
            dlq: `BDLQ${k}`,
            dlqSubject: `bench${k}.dlq`,
            durable: `w${k}`,
          };
          await jsm.streams.add({ name: names.stream, subjects: [names.subject], storage: 'memory' as never });
          await jsm.streams.add({ name: names.out, subjects: [names.outSubject], storage: 'memory' as never });
          await jsm.streams.add({ name: names.dlq, subjects: [names.dlqSubject], storage: 'memory' as never });
          await jsm.consumers.add(names.stream, {
            durable_name: names.durable,
            ack_policy: 'explicit' as never,
            filter_subject: names.subject,
            max_ack_pending: 100_000,
          });
          const children = await Promise.all(
            Array.from({ length: workers }, () =>
              spawnChild([
                mode === 'bare' ? 'bare' : 'score',
                nats.url,
                names.stream,
                names.subject,
                names.outSubject,
                names.dlqSubject,
                names.durable,
                String(batch),
                modelDir,
              ]),
            ),
          );
          try {
            const cell = await drive(nc, js, names.subject, names.outSubject, bodies, {
              batch,
              workers,
              mode,
              warmupSeconds,
              measureSeconds,
            });
            report.cells.push(cell);
            opts.log?.(
              `stream: ${mode.padEnd(10)} workers ${workers} batch ${String(batch).padStart(4)}: ${Math.round(cell.messagesPerSecond).toLocaleString('en-US')} msg/s, p99 ${cell.latencyMs.p99.toFixed(1)} ms`,
            );
          } finally {
            await Promise.all(children.map(stopChild));
            for (const s of [names.stream, names.out, names.dlq]) await jsm.streams.delete(s).catch(() => {});
          }
        }
        const f = report.cells.find((c) => c.mode === 'fraudscore' && c.workers === workers && c.batch === batch)!;
        const b = report.cells.find((c) => c.mode === 'bare' && c.workers === workers && c.batch === batch)!;
        report.ratios.push({ workers, batch, ratio: f.messagesPerSecond / b.messagesPerSecond });
      }
    }
  } finally {
    await nc.close();
    await nats.dispose();
  }
  return report;
}

/** Closed-loop producer: keeps `window` messages in flight; measures results after the warm-up. */
async function drive(
  nc: Awaited<ReturnType<typeof connect>>,
  js: ReturnType<typeof jetstream>,
  subject: string,
  outSubject: string,
  bodies: number[][],
  o: { batch: number; workers: number; mode: 'fraudscore' | 'bare'; warmupSeconds: number; measureSeconds: number },
): Promise<StreamCell> {
  // Enough in flight to fill every worker's pull and the batches it is still publishing.
  const window = Math.min(8192, Math.max(64, 4 * o.batch * o.workers));
  const sent = new Float64Array(1 << 22);
  const latencies: number[] = [];
  let next = 0;
  let outstanding = 0;
  let measuring = false;
  let stopping = false;
  let counted = 0;
  let tMeasure = 0;
  let tEnd = 0;
  const pump = () => {
    while (!stopping && outstanding < window && next < sent.length) {
      const i = next++;
      sent[i] = performance.now();
      outstanding++;
      js.publish(subject, enc.encode(JSON.stringify({ id: i, features: bodies[i % bodies.length] }))).catch(() => {});
    }
  };
  const idOf = (data: Uint8Array): number => {
    // Both result forms start with {"id":<n>, : read the number without parsing the rest.
    let v = 0;
    for (let j = 6; j < data.length; j++) {
      const c = data[j]!;
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
    }
    return v;
  };
  const sub = nc.subscribe(outSubject, {
    callback: (_e, m) => {
      const now = performance.now();
      const id = idOf(m.data);
      outstanding--;
      if (measuring) {
        counted++;
        latencies.push(now - sent[id]!);
      }
      pump();
    },
  });
  await nc.flush();
  pump();
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  measuring = true;
  tMeasure = performance.now();
  await new Promise((r) => setTimeout(r, o.measureSeconds * 1000));
  measuring = false;
  tEnd = performance.now();
  stopping = true;
  // Let the in-flight messages finish so the next cell starts on a quiet broker (bounded wait).
  const deadline = performance.now() + 30_000;
  while (outstanding > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  sub.unsubscribe();
  const seconds = (tEnd - tMeasure) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    mode: o.mode,
    workers: o.workers,
    batch: o.batch,
    window,
    messages: counted,
    seconds: Math.round(seconds * 1000) / 1000,
    messagesPerSecond: counted / seconds,
    latencyMs: {
      p50: Math.round(quantile(sorted, 0.5) * 100) / 100,
      p99: Math.round(quantile(sorted, 0.99) * 100) / 100,
      max: Math.round((sorted.at(-1) ?? Number.NaN) * 100) / 100,
    },
  };
}

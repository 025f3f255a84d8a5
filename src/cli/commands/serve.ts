import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { watchParent } from '../parent-watch.js';
import { type Command, UsageError } from '../command.js';
import { createServer } from '../../server/server.js';

function intOption(values: Record<string, unknown>, name: string, min: number, env?: string): number | undefined {
  const fromEnv = values[name] === undefined && env !== undefined && process.env[env] ? process.env[env] : undefined;
  const v = values[name] ?? fromEnv;
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${fromEnv !== undefined ? `$${env}` : `--${name}`} must be an integer >= ${min}, got '${v}'`);
  }
  return n;
}

/** Where the default prediction log goes: $FRAUDSCORE_STATE_DIR, else $XDG_STATE_HOME/fraudscore, else ~/.local/state/fraudscore. */
function stateDir(): string {
  const dir =
    process.env.FRAUDSCORE_STATE_DIR ||
    join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'fraudscore');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const serve: Command = {
  name: 'serve',
  summary: 'Serve a model over HTTP: /predict, /predict_optimized, /metrics, /monitoring, /docs, /ui',
  help: `Usage: fraudscore serve --model DIR [--port P] [options]

Starts the HTTP server (Fastify) on the model. Routes: GET / and /health, GET /ready, POST /predict
(JSON {features|transaction|instances} or an Arrow IPC stream), POST /predict_optimized (int8),
GET /metrics (Prometheus), GET /monitoring (drift of logged requests against the model's
reference sample; ?format=html), POST /admin/reload, OpenAPI at /docs, a web page at /ui.
Every prediction is logged to a SQLite file. SIGTERM/SIGINT stop accepting, finish in-flight
requests, flush the log and exit. Without the flags, PORT, HOST, FRAUDSCORE_MODEL and FRAUDSCORE_LOG
are read from the environment (as container platforms set them).

Options:
  --model DIR            model directory (model.json, weights.safetensors, optional reference.arrow|csv);
                         'default': the shipped model (env FRAUDSCORE_MODEL)
  --port P               TCP port (default 8000; 0 picks a free one; env PORT)
  --host H               interface to listen on (default 127.0.0.1; 0.0.0.0 for all; env HOST)
  --backend B            auto (default), cpu or cuda
  --threads N            native threads per scoring call (default 1: micro-batches are small)
  --log FILE             prediction log, SQLite (env FRAUDSCORE_LOG; default predictions.sqlite in the
                         state directory: $FRAUDSCORE_STATE_DIR, $XDG_STATE_HOME/fraudscore or
                         ~/.local/state/fraudscore, named at start)
  --no-log               do not log predictions (no drift monitoring then)
  --reference FILE       reference sample for drift (default: reference.* in the model directory)
  --token-env NAME       environment variable holding the bearer token for admin routes
                         (default FRAUDSCORE_TOKEN; a token on the command line would show in ps)
  --protect-all          require the token on every route but GET /ready
  --cors ORIGIN          allow browser calls from ORIGIN ('*' for any); repeatable
  --batch-window-us N    micro-batch window in microseconds (default 300)
  --max-batch-rows N     rows that send a micro-batch at once (default 256)
  --max-instances N      rows per JSON request (default 1000)
  --max-arrow-rows N     rows per Arrow IPC request (default 1048576)
  --grace-ms N           on SIGTERM/SIGINT/SIGHUP, or when the parent process exits (npx does not
                         forward signals), how long in-flight requests may finish (default 10000);
                         idle connections close at once, then the prediction log is flushed
  --log-max-pending N    most answered predictions not yet in the log (what a SIGKILL can lose;
                         default 512): past it an answer waits for its rows to be written
  --verbose              log every request (pino JSON lines on stdout)

Example:
  FRAUDSCORE_TOKEN=$(openssl rand -hex 16) fraudscore serve --model default --port 8000`,
  options: {
    model: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    log: { type: 'string' },
    'no-log': { type: 'boolean' },
    reference: { type: 'string' },
    'token-env': { type: 'string' },
    'protect-all': { type: 'boolean' },
    cors: { type: 'string', multiple: true },
    'batch-window-us': { type: 'string' },
    'max-batch-rows': { type: 'string' },
    'max-instances': { type: 'string' },
    'max-arrow-rows': { type: 'string' },
    'grace-ms': { type: 'string' },
    'log-max-pending': { type: 'string' },
    verbose: { type: 'boolean' },
  },
  async run(values) {
    const model = (values.model as string | undefined) || process.env.FRAUDSCORE_MODEL;
    if (!model) throw new UsageError('missing required option --model (or $FRAUDSCORE_MODEL)');
    const port = intOption(values, 'port', 0, 'PORT') ?? 8000;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const backend = (values.backend as string | undefined) ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(backend))
      throw new UsageError(`--backend must be auto, cpu or cuda, got '${backend}'`);
    const tokenEnv = (values['token-env'] as string | undefined) ?? 'FRAUDSCORE_TOKEN';
    const token = process.env[tokenEnv] || undefined;
    if (values['protect-all'] && !token) throw new UsageError(`--protect-all needs a token in $${tokenEnv}`);
    if (values.log !== undefined && values['no-log']) throw new UsageError('--log and --no-log exclude each other');
    const logPath = values['no-log']
      ? false
      : (values.log as string | undefined) || process.env.FRAUDSCORE_LOG || join(stateDir(), 'predictions.sqlite');
    const app = createServer({
      model,
      backend: backend as 'auto',
      threads: intOption(values, 'threads', 0),
      log: logPath,
      referencePath: values.reference as string | undefined,
      token,
      protectAll: Boolean(values['protect-all']),
      corsOrigins: values.cors as string[] | undefined,
      batchWindowMicros: intOption(values, 'batch-window-us', 0),
      maxBatchRows: intOption(values, 'max-batch-rows', 1),
      maxInstances: intOption(values, 'max-instances', 1),
      maxArrowRows: intOption(values, 'max-arrow-rows', 1),
      shutdownGraceMs: intOption(values, 'grace-ms', 1),
      logMaxPending: intOption(values, 'log-max-pending', 1),
      logger: values.verbose ? { level: 'info' } : { level: 'warn' },
    });
    const host = (values.host as string | undefined) || process.env.HOST || '127.0.0.1';
    // Listen first so probes get 503 from /ready while the model loads, then fail fast if it cannot.
    const address = await app.listen({ port, host });
    try {
      await app.fraudscore.loaded;
    } catch (e) {
      await app.close();
      throw e;
    }
    // Handlers first, then the announcement: whoever waits for it may signal at once.
    const stopped = new Promise<void>((resolve) => {
      const handlers = new Map<NodeJS.Signals, () => void>();
      let stopping = false;
      const stop = (why: string) => {
        if (stopping) return;
        stopping = true;
        unwatch();
        // From here any signal has its default effect (a second Ctrl-C kills at once).
        for (const [sig, h] of handlers) process.off(sig, h);
        console.error(`fraudscore: ${why}: finishing in-flight requests and flushing the prediction log`);
        app.close().then(resolve, (e) => {
          console.error(`fraudscore: shutdown: ${(e as Error).message}`);
          resolve();
        });
      };
      // SIGHUP: the terminal closed. A second signal of any kind kills at once, as usual.
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
        handlers.set(sig, () => stop(sig));
        process.once(sig, handlers.get(sig)!);
      }
      // npx does not forward signals, and a parent killed with SIGKILL sends none: watch it too.
      const unwatch = watchParent(stop);
    });
    const s = app.fraudscore.state!;
    console.error(
      `fraudscore: serving ${s.model.name} v${s.model.version} (${s.engines.fp32}${s.engines.int8 ? `, int8 ${s.engines.int8}` : ''}) on ${address}` +
        ` · docs ${address}/docs · page ${address}/ui`,
    );
    console.error(`fraudscore: prediction log: ${logPath === false ? 'off (--no-log)' : logPath}`);
    await stopped;
    const log = app.fraudscore.log;
    console.error(`fraudscore: stopped${log ? `; ${log.written} predictions logged to ${log.path}` : ''}`);
  },
};

// A training run's directory, runs/<timestamp>-<name>/: what was asked (config.yaml), what happened
// (metrics.jsonl, one line per epoch, appended as it goes so a crashed or cancelled run still shows
// its curve), where it came from (run.json: git commit, data sha256, status) and what came out
// (model/, eval.json). Everything needed to reproduce or audit a model without a tracking service.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { configToYaml, type TrainConfig } from './config.js';

/** sha256 of a data file as stored, and of its decompressed content for a .gz file. */
export interface DataFingerprint {
  path: string;
  bytes: number;
  sha256: string;
  /** sha256 of the uncompressed bytes (only for .gz): what ../shared/data/README.md publishes. */
  contentSha256?: string;
}

/** [async] Hashes a file in one streamed pass (plus a gunzip pass for .gz files). */
export async function fingerprintFile(path: string): Promise<DataFingerprint> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    createReadStream(path),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb();
      },
    }),
  );
  const fp: DataFingerprint = { path: resolve(path), bytes, sha256: hash.digest('hex') };
  if (path.endsWith('.gz')) {
    const inner = createHash('sha256');
    await pipeline(
      createReadStream(path),
      createGunzip(),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          inner.update(chunk);
          cb();
        },
      }),
    );
    fp.contentSha256 = inner.digest('hex');
  }
  return fp;
}

/** [async] The checked-out commit (with "-dirty" when tracked files changed), or null outside git. */
export function gitCommit(cwd = process.cwd()): Promise<string | null> {
  const run = (args: string[]) =>
    new Promise<string | null>((res) => {
      execFile('git', args, { cwd, timeout: 10_000 }, (err, stdout) => res(err ? null : stdout.trim()));
    });
  return (async () => {
    const head = await run(['rev-parse', 'HEAD']);
    if (!head) return null;
    const status = await run(['status', '--porcelain', '--untracked-files=no']);
    return status ? `${head}-dirty` : head;
  })();
}

/** UTC time as 20261126T181502Z: sorts by time and is safe in a file name everywhere. */
export function runTimestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export type RunStatus = 'running' | 'completed' | 'cancelled' | 'failed';

export interface RunInfo {
  name: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  gitCommit: string | null;
  data?: DataFingerprint;
  error?: string;
  [key: string]: unknown;
}

export class RunDir {
  readonly path: string;
  #info: RunInfo;

  private constructor(path: string, info: RunInfo) {
    this.path = path;
    this.#info = info;
  }

  /**
   * [async] Creates <runsDir>/<timestamp>-<name>/ (a numeric suffix when two runs start in the same
   * second) and writes config.yaml and run.json.
   */
  static async create(cfg: TrainConfig, runsDir = cfg.output.runs_dir): Promise<RunDir> {
    if (!/^[A-Za-z0-9._-]+$/.test(cfg.output.name)) {
      throw new RangeError(
        `Expected \`output.name\` to use only letters, digits, '.', '_' and '-' (it names a directory), got ${JSON.stringify(cfg.output.name)}`,
      );
    }
    await mkdir(runsDir, { recursive: true });
    const base = join(runsDir, `${runTimestamp()}-${cfg.output.name}`);
    let path = base;
    for (let k = 2; ; k++) {
      try {
        await mkdir(path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || k > 1000) throw e;
        path = `${base}-${k}`;
      }
    }
    const run = new RunDir(resolve(path), {
      name: cfg.output.name,
      status: 'running',
      startedAt: new Date().toISOString(),
      gitCommit: await gitCommit(),
    });
    await writeFile(join(path, 'config.yaml'), configToYaml(cfg));
    await run.#writeInfo();
    return run;
  }

  get info(): Readonly<RunInfo> {
    return this.#info;
  }

  /** [async] Merges fields into run.json. */
  async update(fields: Partial<RunInfo>): Promise<void> {
    this.#info = { ...this.#info, ...fields };
    await this.#writeInfo();
  }

  /** [async] Appends one JSON line to metrics.jsonl. */
  async appendMetrics(record: object): Promise<void> {
    await appendFile(join(this.path, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }

  /** [async] Writes a JSON file in the run directory. */
  async writeJson(file: string, value: unknown): Promise<void> {
    await writeFile(join(this.path, file), `${JSON.stringify(value, null, 2)}\n`);
  }

  async #writeInfo(): Promise<void> {
    await writeFile(join(this.path, 'run.json'), `${JSON.stringify(this.#info, null, 2)}\n`);
  }
}

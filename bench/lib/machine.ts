// What the figures were measured on: CPU, cores, Node, the addon's SIMD path and build, the
// commit, and the load average (this machine is shared: a high load says the figures are noisy).
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';
import { relative } from 'node:path';

import { addon, packageRoot } from '../../src/native.js';
import { backendInfo } from '../../src/scorer.js';
import { VERSION } from '../../src/version.js';

export interface MachineInfo {
  host: string;
  cpuModel: string;
  cpuMHz: number;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  v8: string;
  fraudscore: string;
  git: { commit: string | null; dirty: boolean | null };
  addon: {
    file: string | null;
    builtAt: string | null;
    simd: string;
    simdAvailable: string[];
    threads: number;
    /** Optional classes this build carries. */
    features: string[];
    cuda: Record<string, unknown>;
  };
  loadAverage: { atStart: number[]; atEnd?: number[] };
}

function git(args: string[]): string | null {
  const r = spawnSync('git', args, { cwd: packageRoot, encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function addonFile(): { file: string | null; builtAt: string | null } {
  try {
    const require = createRequire(import.meta.url);
    const ngb = require('node-gyp-build') as { resolve(dir: string): string };
    const file = ngb.resolve(packageRoot);
    return { file: relative(packageRoot, file), builtAt: statSync(file).mtime.toISOString() };
  } catch {
    return { file: null, builtAt: null };
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** [sync] Describes this machine and build. */
export function describeMachine(): MachineInfo {
  const cpu = cpus()[0];
  const info = backendInfo();
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    host: hostname(),
    cpuModel: cpu?.model.trim() ?? 'unknown',
    cpuMHz: cpu?.speed ?? 0,
    cores: availableParallelism(),
    memoryGiB: round2(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    v8: process.versions.v8,
    fraudscore: VERSION,
    git: { commit: git(['rev-parse', '--short=12', 'HEAD']), dirty: status === null ? null : status.length > 0 },
    addon: {
      ...addonFile(),
      simd: info.cpu.simd,
      simdAvailable: info.cpu.available,
      threads: info.cpu.threads,
      features: ['CpuInt8Scorer', 'CudaScorer', 'Trainer', 'CudaTrainer'].filter((k) => typeof addon[k] === 'function'),
      cuda: { ...info.cuda },
    },
    loadAverage: { atStart: loadavg().map(round2) },
  };
}

/** Marks the end of the run (load average then). */
export function finishMachine(m: MachineInfo): void {
  m.loadAverage.atEnd = loadavg().map(round2);
}

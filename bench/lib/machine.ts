// What the figures were measured on: CPU, cores, Node, the addon's SIMD path and build, the
// commit, the load average and how much CPU other processes took while each section ran (this
// machine is shared: other work makes absolute figures low and noisy).
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';
import { relative } from 'node:path';

import { addon, packageRoot } from '../../src/native.js';
import { backendInfo } from '../../src/scorer.js';
import { VERSION } from '../../src/version.js';

export interface MachineInfo {
  host: string;
  cpuModel: string;
  /** Vendor, CPUID family/model and the microarchitecture family the kernels were measured on. */
  cpuFamily: CpuFamily;
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
  /** Share of the CPU that other processes used during each timed section (Linux). */
  contention: Record<string, Contention>;
}

export interface CpuFamily {
  vendor: string;
  family: number | null;
  model: number | null;
  /**
   * e.g. 'Intel Sapphire Rapids+ (AVX-512, AMX)' or 'AMD Zen 4'. Hypervisors often report generic
   * names and made-up models, so Intel parts are labelled by what they can run (AMX appeared with
   * Sapphire Rapids), AMD parts by CPUID family (and AVX-512 for Zen 4).
   */
  label: string;
}

/** [sync] The CPU family from /proc/cpuinfo (Linux); 'unknown' elsewhere. */
export function cpuFamily(cpuinfo?: string): CpuFamily {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return { vendor: 'unknown', family: null, model: null, label: 'unknown' };
    }
  }
  const first = text.split(/\n\s*\n/, 1)[0] ?? '';
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
  const vendor = field('vendor_id') ?? 'unknown';
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  const family = num(field('cpu family'));
  const model = num(field('model'));
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const avx512 = flags.has('avx512f');
  let label: string;
  if (vendor === 'GenuineIntel') {
    if (flags.has('amx_int8')) label = 'Intel Sapphire Rapids+ (AVX-512, AMX)';
    else if (avx512)
      label = flags.has('avx512_vnni') ? 'Intel AVX-512 VNNI (Cascade Lake/Ice Lake)' : 'Intel AVX-512 (Skylake-SP)';
    else label = flags.has('avx2') ? 'Intel AVX2' : 'Intel';
  } else if (vendor === 'AuthenticAMD') {
    if (family === 26) label = 'AMD Zen 5';
    else if (family === 25) label = avx512 ? 'AMD Zen 4' : 'AMD Zen 3';
    else if (family === 23) label = 'AMD Zen/Zen 2';
    else label = 'AMD';
  } else {
    label = vendor;
  }
  return { vendor, family, model, label };
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
    cpuFamily: cpuFamily(),
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
      features: (['CpuInt8Scorer', 'CudaScorer', 'Trainer'] as const).filter((k) => typeof addon[k] === 'function'),
      cuda: { ...info.cuda },
    },
    loadAverage: { atStart: loadavg().map(round2) },
    contention: {},
  };
}

/** Marks the end of the run (load average then). */
export function finishMachine(m: MachineInfo): void {
  m.loadAverage.atEnd = loadavg().map(round2);
}

/** How much of the CPU other processes used while a section ran. */
export interface Contention {
  seconds: number;
  /** Core-seconds used by the whole machine and by this process (all its threads). */
  machineCpuSeconds: number;
  ownCpuSeconds: number;
  /** (machine - own) / (seconds * cores): 0 on a quiet machine, 1 when others kept every core busy. */
  othersShare: number;
}

function machineBusySeconds(): number | null {
  try {
    // First line of /proc/stat: cpu user nice system idle iowait irq softirq steal ..., in USER_HZ (100/s).
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return null;
  }
}

/**
 * Starts measuring how busy the rest of the machine is (Linux: /proc/stat against this process's
 * CPU time). The load average cannot say it: it counts the bench's own threads. Returns null where
 * /proc/stat is not readable.
 */
export function startContentionMeter(cores: number): (() => Contention) | null {
  const busy0 = machineBusySeconds();
  if (busy0 === null) return null;
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const own = process.cpuUsage(own0);
    const ownCpuSeconds = (own.user + own.system) / 1e6;
    const machineCpuSeconds = (machineBusySeconds() ?? busy0) - busy0;
    const othersShare = Math.min(1, Math.max(0, (machineCpuSeconds - ownCpuSeconds) / (seconds * cores)));
    return {
      seconds: round2(seconds),
      machineCpuSeconds: round2(machineCpuSeconds),
      ownCpuSeconds: round2(ownCpuSeconds),
      othersShare: round2(othersShare),
    };
  };
}

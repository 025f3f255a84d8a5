// One run: build the data and model, run the chosen sections in a fixed order (FMA peak first and
// again after scoring, keeping the best), evaluate the targets, and return the result.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { flopsPerRow, layerSizes } from '../../src/model.js';
import type { BenchConfig } from './config.js';
import { benchData } from './data.js';
import { measurePeak, remeasurePeak } from './gflops.js';
import { describeMachine, finishMachine, startContentionMeter } from './machine.js';
import {
  type BenchResult,
  computeRatios,
  evaluateTargets,
  RESULT_FORMAT_VERSION,
  startupTarget,
  streamTarget,
} from './report.js';
import { runScoring } from './scoring.js';
import { PYTORCH_BASELINE, runTraining } from './training.js';

export async function runBench(
  config: BenchConfig,
  command: string,
  log?: (line: string) => void,
): Promise<BenchResult> {
  const machine = describeMachine();
  log?.(`data: ${config.dataRows.toLocaleString('en-US')} rows, seed ${config.seed}`);
  const data = await benchData(config.dataRows, config.seed);
  const result: BenchResult = {
    formatVersion: RESULT_FORMAT_VERSION,
    date: new Date().toISOString(),
    command,
    quick: config.quick,
    sections: config.sections,
    machine,
    model: {
      layerSizes: layerSizes(data.model),
      flopsPerRow: flopsPerRow(data.model),
      data: data.source,
      rows: data.n,
    },
    timing: config.timing,
    targets: [],
    notes: [],
  };
  const tmpDir = await mkdtemp(join(tmpdir(), 'fraudscore-bench-'));
  try {
    if (config.sections.includes('gflops')) {
      log?.('gflops: measuring the FMA peak');
      result.peak = measurePeak(config.threads, config.peakSeconds);
    }
    if (config.sections.includes('scoring')) {
      const meter = startContentionMeter(config.threads);
      result.scoring = await runScoring({
        data,
        engines: config.engines,
        batches: config.batches,
        timing: config.timing,
        threads: config.threads,
        tmpDir,
        log,
      });
      if (meter) machine.contention.scoring = meter();
      if (result.peak) remeasurePeak(result.peak);
      result.ratios = computeRatios(result.scoring, config.batches);
      result.targets = evaluateTargets(result.scoring, result.peak);
    }
    if (config.sections.includes('training')) {
      const meter = startContentionMeter(config.threads);
      const reports = await runTraining({
        data,
        nativeRows: config.nativeTrainRows,
        tfjsRows: config.tfjsTrainRows,
        epochs: config.trainEpochs,
        threads: config.threads,
        trainers: config.trainers,
        log,
      });
      if (meter) machine.contention.training = meter();
      result.training = { reports, pytorch: PYTORCH_BASELINE };
    }
    if (config.sections.includes('files')) {
      // Imported here: the file readers pull in apache-arrow and parquet, which a scoring-only run
      // (e.g. on a GPU machine given only the addon and tsx) does not have or need.
      const { runFiles } = await import('./files.js');
      result.files = await runFiles({
        data,
        rows: config.fileRows,
        formats: config.fileFormats,
        tmpDir,
        seed: config.seed,
        log,
      });
    }
    if (config.sections.includes('stream')) {
      // Imported here: it loads the NATS client, which the other sections do not need.
      const { runStream } = await import('./stream.js');
      log?.('stream: nats-server, fraudscore stream workers against a bare consume-ack-republish loop');
      result.stream = await runStream({ data, tmpDir, quick: config.quick, log });
      if (result.stream.status === 'ok') result.targets.push(streamTarget(result.stream));
      else result.notes.push(`stream section skipped: ${result.stream.reason}`);
    }
    if (config.sections.includes('startup')) {
      const { runStartup } = await import('./startup.js');
      log?.('startup: import + loadModel + first score, fresh processes, lazy root vs the old eager graph');
      result.startup = await runStartup({ runs: config.startupRuns, log });
      if (result.startup.status === 'ok') result.targets.push(startupTarget(result.startup));
      else result.notes.push(`startup section ${result.startup.status}: ${result.startup.reason}`);
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  finishMachine(machine);
  for (const [section, c] of Object.entries(machine.contention)) {
    if (c.othersShare > 0.1) {
      result.notes.push(
        `other processes used ${Math.round(c.othersShare * 100)}% of the CPU during the ${section} section: absolute figures are low and noisy; ratios within this run compare figures taken seconds apart`,
      );
    }
  }
  if (config.quick) result.notes.push('quick mode: short samples; use a full run for figures to quote');
  return result;
}

// Every CLI command, one import and one list line each.
import type { Command } from '../command.js';
import { drift } from './drift.js';
import { evaluate } from './evaluate.js';
import { exportOnnxCommand } from './export-onnx.js';
import { info } from './info.js';
import { pipeline } from './pipeline.js';
import { quantizeCommand } from './quantize.js';
import { score } from './score.js';
import { serve } from './serve.js';
import { stream } from './stream.js';
import { sweepCommand } from './sweep.js';
import { synth } from './synth.js';
import { trainCommand } from './train.js';

export const commands: Command[] = [
  exportOnnxCommand,
  quantizeCommand,
  info,
  score,
  serve,
  stream,
  drift,
  evaluate,
  synth,
  trainCommand,
  sweepCommand,
  pipeline,
];

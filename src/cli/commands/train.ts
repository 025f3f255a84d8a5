import { loadConfig } from '../../train/config.js';
import { type EpochRecord, type TrainResult, train } from '../../train/train.js';
import { CancelledError, type Command } from '../command.js';
import { createProgress } from '../progress.js';

/**
 * Runs training with a progress bar and ETA on a terminal (a line per best or tenth epoch otherwise);
 * Ctrl-C cancels, and the cancelled run's directory is removed.
 */
export async function trainWithProgress(
  config: Parameters<typeof train>[0],
  opts: { quiet?: boolean } = {},
): Promise<TrainResult> {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new CancelledError('SIGINT'));
  process.once('SIGINT', onSigint);
  const tty = process.stderr.isTTY && !opts.quiet;
  const bar = tty ? createProgress('train') : null;
  const onEpoch = (r: EpochRecord) => {
    const payload = {
      trainLoss: r.trainLoss.toFixed(5),
      valLoss: r.valLoss.toFixed(5),
      best: r.best ? ' (best)' : '',
      rate: Math.round(r.rowsPerSecond),
    };
    if (bar) {
      bar.update(
        r.epoch,
        r.epochs,
        `epoch ${r.epoch}/${r.epochs} | train ${payload.trainLoss} | val ${payload.valLoss}${payload.best} | ${payload.rate} rows/s`,
      );
    } else if (!opts.quiet && (r.best || r.epoch % 10 === 0 || r.epoch === r.epochs)) {
      console.error(
        `epoch ${r.epoch}/${r.epochs} train ${payload.trainLoss} val ${payload.valLoss}${payload.best} ${payload.rate} rows/s`,
      );
    }
  };
  try {
    return await train(config, { onEpoch, signal: controller.signal });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}

export function printTrainResult(res: TrainResult): void {
  const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
  const t = res.test;
  console.log(`best epoch ${res.bestEpoch} of ${res.history.length}${res.stoppedEarly ? ' (early stop)' : ''}`);
  console.log(`threshold ${res.model.threshold?.value} (${res.model.threshold?.strategy})`);
  console.log(
    `test: ROC-AUC ${f(t.rocAuc)}  AUPRC ${f(t.auprc)}  precision ${f(t.precision)}  recall ${f(t.recall)}  ` +
      `F1 ${f(t.f1)}  recall@1%FPR ${f(t.recallAtFpr1)}  (normal weight ${t.normalWeight})`,
  );
  if (res.runDir) console.log(`run directory: ${res.runDir}`);
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train an autoencoder from a YAML config with key.path=value overrides',
  help: `Usage: fraudscore train [--config FILE] [key.path=value ...]

Loads the data, splits it (stratified or by time), fits the preprocessing on the training split's
normal rows, trains on those rows with early stopping on the validation split, chooses the threshold
on the validation split and reports test metrics. Everything goes to runs/<timestamp>-<name>/:
the resolved config, metrics per epoch (JSONL), the git commit, the data's sha256 and the model.
Ctrl-C cancels cleanly.

Options:
  --config FILE   YAML config (default: the built-in defaults, as in configs/default.yaml)
  --quiet         no progress output

Overrides (checked against the config schema; an unknown key or a wrong type is an error):
  fraudscore train --config configs/seed.yaml training.lr=0.005 training.batch_size=512
  fraudscore train data.path=transactions.arrow model.hidden=[64,16,64] threshold.strategy=target-fpr threshold.value=0.01`,
  options: { config: { type: 'string' }, quiet: { type: 'boolean' } },
  positionals: true,
  async run(values, positionals) {
    const config = await loadConfig(values.config as string | undefined, positionals);
    const res = await trainWithProgress(config, { quiet: values.quiet === true });
    printTrainResult(res);
  },
};

import { loadConfig } from '../../train/config.js';
import { loadSweepSpec, sweep } from '../../train/sweep.js';
import { CancelledError, type Command, requireString } from '../command.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'Grid or random search over config keys, ranked by validation AUPRC',
  help: `Usage: fraudscore sweep --spec FILE [--config FILE] [key.path=value ...]

Trains one model per point of the spec (e.g. configs/sweep.yaml: mode grid|random, params with
candidate values per dotted key), ranks the points by validation AUPRC and writes results.json and
results.md (a table) in runs/<timestamp>-sweep-<name>/. Test metrics are reported, never used to
choose.

Options:
  --spec FILE     the sweep spec (YAML)
  --config FILE   base config (default: the built-in defaults)`,
  options: { spec: { type: 'string' }, config: { type: 'string' } },
  positionals: true,
  async run(values, positionals) {
    const base = await loadConfig(values.config as string | undefined, positionals);
    const spec = await loadSweepSpec(requireString(values, 'spec'));
    const controller = new AbortController();
    const onSigint = () => controller.abort(new CancelledError('SIGINT'));
    process.once('SIGINT', onSigint);
    try {
      const res = await sweep(base, spec, {
        signal: controller.signal,
        onPoint: (row, i, total) =>
          console.error(
            `[${i + 1}/${total}] ${row.overrides.join(' ')}: ${row.error ? `failed: ${row.error}` : `val AUPRC ${row.valAuprc.toFixed(4)}`}`,
          ),
      });
      console.log(res.markdown);
      console.log(`results: ${res.dir}`);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

// The training entry points as the package root exports them: each loads the training code (and
// the YAML parser behind configs) on its first call, so that importing 'fraudscore' to score stays
// cheap. Same signatures and errors as the functions in src/train/, which they call.
import type * as Config from './train/config.js';
import type * as Sweep from './train/sweep.js';
import type * as Train from './train/train.js';

/**
 * [async] The resolved config: defaults, then the YAML file (when given), then the overrides.
 * @throws {ConfigError} naming the file or 'command line' and the dotted key.
 */
export const loadConfig: typeof Config.loadConfig = async (...args) =>
  (await import('./train/config.js')).loadConfig(...args);

/**
 * [async] Trains a model as `config` says and evaluates it. `config` may leave keys out (they take
 * DEFAULT_CONFIG's values); every key given is checked against the config schema.
 * @throws {ConfigError} naming a bad key, {DataError} for bad data, {RangeError} for unusable
 *   splits or options, the signal's reason when aborted.
 */
export const train: typeof Train.train = async (...args) => (await import('./train/train.js')).train(...args);

/**
 * [async] Runs every point of `spec` over `base` one after another, ranks them by validation AUPRC
 * and writes the results.
 * @throws {ConfigError} before anything runs when a point's overrides are invalid; the signal's
 *   reason when aborted (results so far are written first).
 */
export const sweep: typeof Sweep.sweep = async (...args) => (await import('./train/sweep.js')).sweep(...args);

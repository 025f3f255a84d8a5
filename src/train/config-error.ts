// The config error class on its own, so the package root can export it without loading the config
// parser (yaml) or the training code, which load on first use.

/** A config problem: `key` is the dotted key ('' for the whole document), `source` the file or 'command line'. */
export class ConfigError extends Error {
  readonly code = 'ERR_FRAUDSCORE_CONFIG';
  readonly key: string;
  readonly source: string;
  constructor(message: string, key: string, source: string) {
    super(message);
    this.name = 'ConfigError';
    this.key = key;
    this.source = source;
  }
}

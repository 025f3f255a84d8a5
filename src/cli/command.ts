// The shape of a CLI command. Each command lives in its own file under src/cli/commands/ and is
// listed once in src/cli/commands/index.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full help text (usage, options, examples), printed by `fraudscore <name> --help`. */
  help: string;
  /** Options for node:util parseArgs (a `help` boolean is added automatically). */
  options: NonNullable<ParseArgsConfig['options']>;
  /** Whether free positional arguments (e.g. `key.path=value` overrides) are accepted. */
  positionals?: boolean;
  run(
    values: Record<string, string | boolean | string[] | boolean[] | undefined>,
    positionals: string[],
  ): Promise<number | void>;
}

/** A command stopped by a signal: exit 128 + the signal's number (130 for SIGINT), as shells do. */
export class CancelledError extends Error {
  readonly exitCode: number;
  constructor(readonly signalName: 'SIGINT' | 'SIGTERM') {
    super(`cancelled by ${signalName}`);
    this.name = 'CancelledError';
    this.exitCode = signalName === 'SIGINT' ? 130 : 143;
  }
}

/** An error the user caused (bad flag, missing file): printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Edit distance (insertions, deletions, substitutions, swaps of two neighbours) of short strings. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * [sync] The candidate closest to a mistyped `input`, or undefined when none is close: within a
 * third of its length in edits (at least 1), or one that `input` is a prefix of.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.startsWith(input) && input.length >= 2 ? 0.5 : editDistance(input, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(input.length / 3)) ? best : undefined;
}

export function parseCommandArgs(cmd: Command, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.positionals ?? false,
      strict: true,
    });
  } catch (e) {
    const err = e as Error & { code?: string };
    let hint = '';
    const unknown = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'--([^'=]+)'/.exec(err.message)?.[1] : undefined;
    if (unknown) {
      const near = closest(unknown, [...Object.keys(cmd.options), 'help']);
      if (near) hint = `. Did you mean --${near}?`;
    }
    throw new UsageError(`${err.message}${hint}\nRun \`fraudscore ${cmd.name} --help\` for usage.`);
  }
}

/** The value of a required string option, or a UsageError naming the flag. */
export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`missing required option --${name}`);
  return v;
}

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

/** An error the user caused (bad flag, missing file): printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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
    throw new UsageError(`${(e as Error).message}\nRun \`fraudscore ${cmd.name} --help\` for usage.`);
  }
}

/** The value of a required string option, or a UsageError naming the flag. */
export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`missing required option --${name}`);
  return v;
}

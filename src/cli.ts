#!/usr/bin/env node
// The `fraudscore` command line: `fraudscore <command> [options]`, `fraudscore <command> --help`.
import { CancelledError, type Command, closest, parseCommandArgs, UsageError } from './cli/command.js';
import { commands } from './cli/commands/index.js';
import { ModelError } from './errors.js';
import { VERSION } from './version.js';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `fraudscore ${VERSION}: credit-card fraud scoring with an autoencoder`,
    '',
    'Usage: fraudscore <command> [options]     (fraudscore <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    console.log(VERSION);
    return 0;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    const near = closest(
      name,
      commands.map((c) => c.name),
    );
    console.error(`fraudscore: unknown command '${name}'${near ? `. Did you mean '${near}'?` : ''}\n\n${usage()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values.help) {
      console.log(cmd.help);
      return 0;
    }
    const code = await cmd.run(values, positionals);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof CancelledError) {
      console.error(`fraudscore ${name}: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof UsageError) {
      console.error(`fraudscore ${name}: ${e.message}`);
      return 2;
    }
    // Messages name the file, line and field; the stack only helps when debugging fraudscore itself.
    const err = e as Error & { code?: string; path?: string };
    // A file the system could not open: say which and what to check, not a raw errno message.
    const fsHint: Record<string, string> = {
      ENOENT: 'no such file or directory (check the path; it is relative to the working directory)',
      EACCES: 'permission denied (check the file and directory permissions)',
      EISDIR: 'is a directory, not a file',
      ENOTDIR: 'a part of the path is not a directory',
    };
    if (err.code && err.path && fsHint[err.code]) {
      console.error(`fraudscore ${name}: cannot open ${err.path}: ${fsHint[err.code]}`);
      return 1;
    }
    const known =
      e instanceof ModelError || err.name === 'DataError' || err.name === 'ConfigError' || e instanceof RangeError;
    console.error(
      `fraudscore ${name}: ${process.env.FRAUDSCORE_DEBUG && !known ? (err.stack ?? err) : (err.message ?? err)}`,
    );
    return 1;
  }
}

// Run when executed directly (node dist/cli.js, the `fraudscore` bin, or tsx src/cli.ts).
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])(cli\.(?:js|ts)|fraudscore)$/.test(invoked)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

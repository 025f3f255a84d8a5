// A parent that starts `fraudscore serve` the way npx does (its own child, signals not forwarded),
// prints the server's pid on stdout, then waits to be killed. The server's stderr goes to the file
// named by argv[2], so it keeps a place to write after this process is gone.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';

const [log, ...args] = process.argv.slice(2);
const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', ...args], {
  stdio: ['ignore', 'ignore', openSync(log, 'w')],
});
process.stdout.write(`${child.pid}\n`);
setInterval(() => {}, 1 << 30);

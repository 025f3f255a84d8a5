// tsc copies only .ts output: put the web page's static files next to the compiled server.
import { cpSync } from 'node:fs';

cpSync('src/server/ui', 'dist/server/ui', { recursive: true });

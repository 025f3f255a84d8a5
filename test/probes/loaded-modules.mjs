// Child-process probe: imports the module named by argv[2] (a path or package specifier) and prints,
// as JSON, every module URL the ESM loader resolved while doing so (node: builtins left out).
// A resolve hook runs on the loader thread and posts each URL on a MessagePort; a final marker
// import is posted last on the same port, so every earlier URL has arrived once the marker does.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

const hooks = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}`;
const { port1, port2 } = new MessageChannel();
const urls = [];
const MARKER = 'data:text/javascript,export default "fraudscore-probe-marker"';
const markerSeen = new Promise((resolve) => {
  port1.on('message', (url) => {
    if (url === MARKER) resolve();
    else if (!url.startsWith('node:')) urls.push(url);
  });
});
register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] });

const target = process.argv[2];
await import(target.startsWith('.') || target.startsWith('/') ? pathToFileURL(target).href : target);
await import(MARKER);
await markerSeen;
port1.close();
process.stdout.write(`${JSON.stringify([...new Set(urls)])}\n`);

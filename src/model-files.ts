// Reading the files of a model directory without trusting it: only regular files (a FIFO would
// block the read forever, /dev/zero would fill memory), sizes checked before reading, and files a
// model.json names must lie inside its directory; and how its JSON values are named in errors.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

import { ModelError } from './errors.js';

/** Largest model.json read (a real one is a few KB). */
export const MAX_MODEL_JSON_BYTES = 16 << 20;
/** Largest weights file read (the default model's is 12 KB; a 29-1024-...-29 net is a few MB). */
export const MAX_WEIGHTS_BYTES = 1 << 30;

/**
 * [async] The bytes of a regular file of at most `maxBytes`.
 * @throws ModelError naming the file: missing, not a regular file, too large, or changed while read.
 */
export async function readModelFile(path: string, maxBytes: number): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelError(`${path}: ${code === 'ENOENT' ? 'not found' : (e as Error).message}`, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const kind = st.isFIFO()
        ? 'a FIFO'
        : st.isCharacterDevice()
          ? 'a character device'
          : st.isBlockDevice()
            ? 'a block device'
            : st.isDirectory()
              ? 'a directory'
              : st.isSocket()
                ? 'a socket'
                : 'not a file';
      throw new ModelError(`${path} is ${kind}, expected a regular file`, path);
    }
    if (st.size > maxBytes) {
      throw new ModelError(`${path} is ${st.size} bytes, more than the ${maxBytes} a model file may have`, path);
    }
    const buf = Buffer.alloc(st.size);
    let at = 0;
    while (at < st.size) {
      const { bytesRead } = await fh.read(buf, at, st.size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    if (at !== st.size) throw new ModelError(`${path} shrank while it was read (${at} of ${st.size} bytes)`, path);
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * The absolute path of `file`, named by the model.json at `jsonPath`, inside the model directory.
 * @throws ModelError naming the field when it is absolute or leaves the directory.
 */
export function fileInModelDir(dir: string, file: unknown, jsonPath: string, field: string): string {
  if (typeof file !== 'string' || file === '') {
    throw new ModelError(
      `${jsonPath}: ${field} must be a file name, got ${JSON.stringify(file) ?? 'nothing'}`,
      jsonPath,
    );
  }
  const root = resolve(dir);
  const path = resolve(root, file);
  const rel = relative(root, path);
  if (isAbsolute(file) || rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new ModelError(
      `${jsonPath}: ${field} is ${JSON.stringify(file)}, expected a file inside the model directory ${root}`,
      jsonPath,
    );
  }
  return path;
}

/** A JSON value for messages: `null`, `the string "1"`, `an array`, ... */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return `an array (${JSON.stringify(v).slice(0, 80)})`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

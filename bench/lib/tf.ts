// TensorFlow.js in Node, loaded only when a tfjs measurement runs (importing it costs ~1 s).
// Backends: 'cpu' (pure JS) and 'wasm' (XNNPACK; its .wasm binaries ship inside the npm package).
// In Node the wasm backend runs SIMD but single-threaded: tfjs 4.22's threaded build needs web
// workers that Node lacks (tfjs issue #3830), and it reports WASM_HAS_MULTITHREAD_SUPPORT=false.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

import type * as Tf from '@tensorflow/tfjs';

export type TfBackend = 'cpu' | 'wasm';
export type TfModule = typeof Tf;

let loaded: Promise<TfModule> | null = null;
let wasmInfo: { simd: boolean; threads: number } | null = null;

async function load(): Promise<TfModule> {
  // tfjs prints a banner suggesting tfjs-node the first time a backend starts; it is noise here.
  const warn = console.warn;
  const log = console.log;
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  try {
    console.warn = () => {};
    console.log = () => {};
    await tf.setBackend('cpu');
    await tf.ready();
  } finally {
    console.warn = warn;
    console.log = log;
  }
  tf.enableProdMode();
  return tf;
}

/** [async] tfjs with `backend` active. */
export async function useTf(backend: TfBackend): Promise<TfModule> {
  loaded ??= load();
  const tf = await loaded;
  if (tf.getBackend() !== backend) {
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' failed to initialize`);
    await tf.ready();
  }
  if (backend === 'wasm' && wasmInfo === null) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasmInfo = { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threads: wasm.getThreadsCount() };
  }
  return tf;
}

/** What the backend runs with, for the report. */
export function tfDetail(tf: TfModule, backend: TfBackend): Record<string, unknown> {
  return backend === 'wasm'
    ? { tfjs: tf.version.tfjs, backend, simd: wasmInfo?.simd ?? null, threads: wasmInfo?.threads ?? null }
    : { tfjs: tf.version.tfjs, backend, threads: 1 };
}

// Modules that teammates are still writing (ONNX export, quantization, synthetic data). The bench
// must run before and after they land: it looks for them at run time, checks that they export what
// it calls, and otherwise reports the section as skipped with the reason instead of failing.
import { existsSync } from 'node:fs';

export type Optional<T> = { ok: true; module: T; file: string } | { ok: false; reason: string };

/**
 * [async] Imports the first of `candidates` (paths relative to the package root, .ts sources) that
 * exists and exports every name in `exports` as a function.
 */
export async function importOptional<T>(
  candidates: readonly string[],
  exports: readonly string[],
): Promise<Optional<T>> {
  for (const rel of candidates) {
    const url = new URL(`../../${rel}`, import.meta.url);
    if (!existsSync(url)) continue;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url.href)) as Record<string, unknown>;
    } catch (e) {
      return { ok: false, reason: `${rel} failed to load: ${(e as Error).message.split('\n')[0]}` };
    }
    const missing = exports.filter((name) => typeof mod[name] !== 'function');
    if (missing.length > 0) return { ok: false, reason: `${rel} does not export ${missing.join(', ')}` };
    return { ok: true, module: mod as T, file: rel };
  }
  return { ok: false, reason: `${candidates.join(' / ')} not found (not written yet)` };
}

// POST /admin/reload: loads a model and swaps it in (bearer token when configured); a model that
// fails to load, or a quantized one whose int8 engine fails, is refused and the old one keeps serving.
import type { FastifyInstance } from 'fastify';

import type { ServerContext } from '../context.js';
import type { ModelState } from '../model-state.js';
import { HttpError } from '../rows.js';
import * as schemas from '../schemas.js';

/** [sync] Adds POST /admin/reload to `scope`. */
export function adminRoutes(scope: FastifyInstance, ctx: ServerContext): void {
  const { model, referencePath } = ctx.options;
  scope.post('/admin/reload', { schema: schemas.reloadRoute }, async (req) => {
    const body = (req.body ?? {}) as { model?: string };
    if (body.model !== undefined && !ctx.hasToken) {
      throw new HttpError(403, 'Reloading from another directory needs the server to be started with a token');
    }
    const source = body.model ?? (typeof model === 'string' ? model : undefined);
    if (source === undefined)
      throw new HttpError(400, 'The server was given an in-memory model: name a `model` directory to load');
    let s: ModelState;
    try {
      s = await ctx.load(source, body.model === undefined ? referencePath : undefined);
    } catch (e) {
      // The old model keeps serving; the caller learns why the new one was refused.
      throw new HttpError(400, `reload failed, still serving the previous model: ${(e as Error).message}`);
    }
    // A quantized model whose int8 engine failed would silently turn /predict_optimized off.
    if (s.model.quantization && 'missing' in s.int8) {
      await s.dispose();
      throw new HttpError(400, `reload failed, still serving the previous model: ${s.int8.missing}`);
    }
    ctx.install(s);
    return {
      status: 'reloaded',
      model: { name: s.model.name, version: s.model.version, fingerprint: s.fingerprint },
      engine: s.engines.fp32,
      int8_engine: s.engines.int8,
    };
  });
}

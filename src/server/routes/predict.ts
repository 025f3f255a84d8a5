// POST /predict and POST /predict_optimized (int8): a JSON body (one transaction or `instances`,
// micro-batched with concurrent requests) or an Arrow IPC stream (bulk), scored, decided, logged.
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { isFraud, riskLevel } from '../../decision.js';
import { ArrowBodyError, ArrowBodyStream, type DecodedArrowBody, decodeArrowBodyStream } from '../arrow-body.js';
import { MicroBatcher } from '../batcher.js';
import type { ServerContext } from '../context.js';
import { ARROW_STREAM } from '../http.js';
import type { ModelState } from '../model-state.js';
import type { LoggedPrediction } from '../prediction-log.js';
import { checkValue, HttpError, rowsFromBody } from '../rows.js';
import * as schemas from '../schemas.js';

type PrecisionRoute = { precision: 'fp32' | 'int8'; route: '/predict' | '/predict_optimized' };

/** [sync] Adds both prediction routes to `scope`. */
export function predictRoutes(scope: FastifyInstance, ctx: ServerContext): void {
  const { maxInstances } = ctx.options;
  const fp32: PrecisionRoute = { precision: 'fp32', route: '/predict' };
  const int8: PrecisionRoute = { precision: 'int8', route: '/predict_optimized' };
  scope.post('/predict', { schema: schemas.predictRoute(maxInstances, false) }, (req, reply) =>
    predict(ctx, req, reply, fp32),
  );
  scope.post('/predict_optimized', { schema: schemas.predictRoute(maxInstances, true) }, (req, reply) =>
    predict(ctx, req, reply, int8),
  );
}

function batcherFor(s: ModelState, precision: 'fp32' | 'int8'): MicroBatcher {
  const batcher = precision === 'fp32' ? s.fp32 : s.int8;
  if (!(batcher instanceof MicroBatcher))
    throw new HttpError(503, `POST /predict_optimized is unavailable: ${batcher.missing}`);
  return batcher;
}

async function predict(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, at: PrecisionRoute) {
  const s = ctx.ready();
  if (req.body instanceof ArrowBodyStream) return predictArrow(ctx, s, req.body, reply, at);
  const batcher = batcherFor(s, at.precision);
  const { rows, batch } = rowsFromBody(s, req.body as schemas.PredictBody, ctx.options.maxInstances);
  const d = s.model.features.length;
  const n = rows.length / d;
  ctx.metrics.featureLength.observe(d);
  const top = (req.query as { top?: string }).top;
  const k = top === undefined ? ctx.options.topFeatures : Math.min(Number(top), d);
  const { scores, featureErrors, aeScores } = await batcher.score(rows);
  const thr = s.threshold;
  const engine = batcher.scorer.engine;
  const latency = reply.elapsedTime / 1000;
  const now = Date.now();
  const out: schemas.Prediction[] = [];
  const flags: boolean[] = [];
  const logged: LoggedPrediction[] = [];
  for (let i = 0; i < n; i++) {
    const score = scores[i]!;
    if (!Number.isFinite(score)) {
      throw new HttpError(
        400,
        `${batch ? `instances[${i}]: ` : ''}the transaction could not be scored (non-finite result)`,
      );
    }
    const fraud = isFraud(score, thr);
    flags.push(fraud);
    out.push({
      is_fraud: fraud,
      // Hybrid models (src/hybrid/): the score is a probability; the AE's error comes alongside.
      ...(aeScores ? { fraud_probability: score } : {}),
      reconstruction_error: aeScores ? aeScores[i]! : score,
      threshold: thr,
      risk_level: riskLevel(score, thr, aeScores !== undefined),
      engine,
      model_version: s.model.version,
      top_features: topFeatures(s.model.features, featureErrors.subarray(i * d, (i + 1) * d), k),
    });
    logged.push({
      time: now,
      modelVersion: s.model.version,
      engine,
      features: rows.subarray(i * d, (i + 1) * d),
      score,
      isFraud: fraud,
      latency,
    });
  }
  ctx.metrics.observeScores(at.route, scores, flags);
  if (ctx.log) {
    ctx.log.push(logged);
    ctx.metrics.logPending.set(ctx.log.pending);
    await ctx.boundLogBacklog();
  }
  if (!batch) return out[0];
  return { predictions: out, model_version: s.model.version, engine, threshold: thr };
}

async function predictArrow(
  ctx: ServerContext,
  s: ModelState,
  body: ArrowBodyStream,
  reply: FastifyReply,
  at: PrecisionRoute,
) {
  const batcher = batcherFor(s, at.precision);
  const feats = s.model.features;
  const d = feats.length;
  let decoded: DecodedArrowBody;
  try {
    decoded = await decodeArrowBodyStream(
      body,
      feats,
      ctx.options.maxArrowRows,
      ctx.options.arrowBodyLimit,
      (v, j, where) => checkValue(s, v, j, where),
    );
  } catch (e) {
    if (e instanceof ArrowBodyError) throw new HttpError(e.statusCode, e.message);
    throw e;
  }
  const { rows, n } = decoded;
  const scores = await batcher.scoreAll(rows);
  const thr = s.threshold;
  const flags = new Uint8Array(n);
  const bools: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    bools[i] = isFraud(scores[i]!, thr);
    flags[i] = bools[i] ? 1 : 0;
  }
  ctx.metrics.observeScores(at.route, scores, bools);
  if (ctx.log) {
    const now = Date.now();
    const latency = reply.elapsedTime / 1000;
    const engine = batcher.scorer.engine;
    const logged: LoggedPrediction[] = [];
    for (let i = 0; i < n; i++) {
      logged.push({
        time: now,
        modelVersion: s.model.version,
        engine,
        features: rows.subarray(i * d, (i + 1) * d),
        score: scores[i]!,
        isFraud: bools[i]!,
        latency,
      });
    }
    ctx.log.push(logged);
    await ctx.boundLogBacklog();
  }
  // A hybrid model's scores are probabilities: the column says so.
  const outTable = tableFromArrays(
    s.model.kind === 'hybrid'
      ? { fraud_probability: scores, is_fraud: flags }
      : { reconstruction_error: scores, is_fraud: flags },
  );
  reply.header('content-type', ARROW_STREAM);
  reply.header('x-fraudscore-threshold', String(thr));
  reply.header('x-fraudscore-engine', batcher.scorer.engine);
  reply.header('x-fraudscore-model-version', s.model.version);
  return reply.send(Buffer.from(tableToIPC(outTable, 'stream')));
}

/** The k features with the largest share of the row's squared error (largest first). */
export function topFeatures(
  names: readonly string[],
  errors: Float32Array,
  k: number,
): { name: string; error_share: number }[] {
  // Insertion into a k-long list: k is small (3 by default) and this runs for every scored row.
  const kk = Math.min(k, names.length);
  const idx: number[] = [];
  let total = 0;
  for (let j = 0; j < errors.length; j++) {
    const e = errors[j]!;
    total += e;
    if (idx.length === kk && e <= errors[idx[kk - 1]!]!) continue;
    let at = idx.length === kk ? kk - 1 : idx.length;
    while (at > 0 && errors[idx[at - 1]!]! < e) {
      idx[at] = idx[at - 1]!;
      at--;
    }
    idx[at] = j;
  }
  return idx.map((j) => ({ name: names[j]!, error_share: total > 0 ? errors[j]! / total : 0 }));
}

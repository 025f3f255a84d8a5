// GET /metrics (Prometheus) and GET /monitoring (drift of the logged requests against the model's
// reference sample, JSON or HTML; 200 "waiting_for_data" before any logged request).
import type { FastifyInstance } from 'fastify';

import { driftReportAsync } from '../../monitoring/drift.js';
import { escapeHtml, renderDriftHtml, renderWaitingHtml } from '../../monitoring/html.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../rows.js';
import * as schemas from '../schemas.js';

/** [sync] Adds GET /metrics and GET /monitoring to `scope`. */
export function monitoringRoutes(scope: FastifyInstance, ctx: ServerContext): void {
  const { metrics, log } = ctx;
  scope.get('/metrics', { schema: schemas.metricsRoute }, async (_req, reply) => {
    if (log) metrics.logPending.set(log.pending);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  scope.get('/monitoring', { schema: schemas.monitoringRoute }, async (req, reply) => {
    const q = req.query as { window?: string; since?: string; format?: 'json' | 'html' };
    const html = q.format === 'html';
    // A report that cannot be made (no reference, no log) is a 404 with the reason.
    const fail = (detail: string) => {
      if (!html) return reply.code(404).send({ detail });
      return reply
        .code(404)
        .type('text/html; charset=utf-8')
        .send(
          `<!doctype html><meta charset="utf-8"><title>fraudscore drift report</title><h1>No drift report</h1><p>${escapeHtml(detail)}</p>`,
        );
    };
    const s = ctx.ready();
    if (!('table' in s.reference)) return fail(s.reference.missing);
    if (!log)
      return fail(
        'the prediction log is disabled (start the server with a log), so there are no logged requests to compare',
      );
    let since: number | undefined;
    if (q.since !== undefined) {
      since = Date.parse(q.since);
      if (Number.isNaN(since)) throw new HttpError(400, `Expected \`since\` to be an ISO 8601 time, got '${q.since}'`);
    }
    const last = q.window !== undefined ? Number(q.window) : since === undefined ? ctx.options.driftWindow : undefined;
    await log.flushed();
    const d = s.model.features.length;
    const win = log.window({ last, since, features: d });
    const model = { name: s.model.name, version: s.model.version, fingerprint: s.fingerprint };
    const reference = { file: s.reference.file, rows: s.reference.table.n };
    const window = { last: last ?? null, since: since === undefined ? null : new Date(since).toISOString() };
    if (win.n === 0) {
      // Before any data a report is not an error: 200 with the empty state, so a dashboard or probe
      // polling it sees "waiting", not a failure.
      const detail = 'no logged predictions in the window yet: send some to POST /predict first';
      if (html) return reply.type('text/html; charset=utf-8').send(renderWaitingHtml(s.model.name, detail));
      return { status: 'waiting_for_data', detail, model, reference, window: { ...window, rows: 0 }, report: null };
    }
    const refScores = await s.referenceScores();
    const report = await driftReportAsync(
      { features: s.model.features, rows: s.reference.table.rows, scores: refScores ?? undefined },
      { features: s.model.features, rows: win.rows, scores: win.scores },
    );
    if (html) {
      return reply
        .type('text/html; charset=utf-8')
        .send(
          renderDriftHtml(
            report,
            `fraudscore drift report: ${s.model.name} v${s.model.version}, ${win.n} logged rows (${win.from} – ${win.to})`,
          ),
        );
    }
    return { model, reference, window: { ...window, rows: win.n, from: win.from, to: win.to }, report };
  });
}

// Prometheus metrics of one server (its own registry, so several servers can live in one process,
// e.g. in tests). Names follow the original project where it had them (prediction_requests_total,
// prediction_error_total, prediction_latency_seconds; feature_length_summary became feature_length
// because promtool forbids the type in the name); the rest are prefixed fraudscore_. Checked with
// `promtool check metrics` in test/server-metrics.test.ts.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry, Summary } from 'prom-client';

export interface ModelInfoLabels {
  name: string;
  version: string;
  fingerprint: string;
  engine: string;
  precision: string;
}

/**
 * [sync] prom-client's default process and Node metrics on `registry`, less the three gauges
 * named *_total that promtool rejects; each is the sum of its by-type sibling
 * (nodejs_active_handles{type=...}), so dropping them loses nothing. The server and the stream
 * worker both use it.
 */
export function addProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  /** Responses of the prediction routes, by route and status code. */
  readonly requests: Counter<'route' | 'status'>;
  /** Prediction requests that failed, by route and reason (validation, scoring, unavailable). */
  readonly errors: Counter<'route' | 'reason'>;
  readonly latency: Histogram<'route'>;
  /** Features per row, once per request (the original tracked how long the feature vectors were). */
  readonly featureLength: Summary;
  /** Every HTTP response, by method, route pattern and status. */
  readonly http: Counter<'method' | 'route' | 'status'>;
  /** Rows per native scoring call: how well micro-batching groups requests. */
  readonly batchRows: Histogram<'engine'>;
  readonly rows: Counter<'route'>;
  readonly frauds: Counter<'route'>;
  readonly fraudRate: Gauge;
  readonly score: Histogram;
  readonly modelInfo: Gauge<keyof ModelInfoLabels>;
  readonly logPending: Gauge;
  readonly logErrors: Counter;
  readonly int8Fallback: Gauge;
  /** Rows the served int8 scorer has rescored in fp32 (set by the server; read at scrape time). */
  fp32FallbackRows: () => number = () => 0;
  // The last 1000 decisions, as a ring: the fraud-rate gauge without rate() arithmetic.
  #ring = new Uint8Array(1000);
  #ringAt = 0;
  #ringFull = false;
  #ringFrauds = 0;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'prediction_requests_total',
      help: 'Prediction requests answered, by route and HTTP status code.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.errors = new Counter({
      name: 'prediction_error_total',
      help: 'Prediction requests that failed, by route and reason.',
      labelNames: ['route', 'reason'],
      registers,
    });
    this.latency = new Histogram({
      name: 'prediction_latency_seconds',
      help: 'Time from request arrival to response, for prediction routes.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.featureLength = new Summary({
      // The original called it feature_length_summary; promtool rejects a type in a metric name, so
      // the series are feature_length{quantile=...}, feature_length_sum and feature_length_count.
      name: 'feature_length',
      help: 'Number of features per row of each prediction request.',
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers,
    });
    this.http = new Counter({
      name: 'fraudscore_http_requests_total',
      help: 'HTTP responses, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.batchRows = new Histogram({
      name: 'fraudscore_batch_rows',
      help: 'Rows per native scoring call (micro-batches, Arrow bodies, and the drift reference sample once).',
      labelNames: ['engine'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536],
      registers,
    });
    this.rows = new Counter({
      name: 'fraudscore_predictions_total',
      help: 'Rows scored, by route.',
      labelNames: ['route'],
      registers,
    });
    this.frauds = new Counter({
      name: 'fraudscore_frauds_total',
      help: 'Rows flagged as fraud (score above the threshold), by route.',
      labelNames: ['route'],
      registers,
    });
    this.fraudRate = new Gauge({
      name: 'fraudscore_fraud_rate_ratio',
      help: 'Share of the last 1000 scored rows flagged as fraud.',
      registers,
    });
    this.score = new Histogram({
      name: 'fraudscore_reconstruction_error',
      help: 'Distribution of reconstruction errors (scores) of scored rows.',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50, 100],
      registers,
    });
    this.modelInfo = new Gauge({
      name: 'fraudscore_model_info',
      help: 'The model being served (value 1; labels name it).',
      labelNames: ['name', 'version', 'fingerprint', 'engine', 'precision'],
      registers,
    });
    this.logPending = new Gauge({
      name: 'fraudscore_prediction_log_pending',
      help: 'Predictions queued for the SQLite log, not yet written.',
      registers,
    });
    this.logErrors = new Counter({
      name: 'fraudscore_prediction_log_failed_rows_total',
      help: 'Predictions that could not be written to the SQLite log.',
      registers,
    });
    const self = this;
    this.int8Fallback = new Gauge({
      name: 'fraudscore_int8_fp32_fallback_rows',
      help: "Rows /predict_optimized rescored with the fp32 weights since the model was loaded, because their activations left the int8 calibrated range (quantization.outOfRange fp32). A share of that route's predictions that grows says traffic has drifted from the calibration rows.",
      registers,
      collect() {
        this.set(self.fp32FallbackRows());
      },
    });
    addProcessMetrics(this.registry);
  }

  /** Records scored rows: counts, the score histogram and the rolling fraud rate. */
  observeScores(route: string, scores: ArrayLike<number>, flags: ArrayLike<boolean>): void {
    let frauds = 0;
    const ring = this.#ring;
    for (let i = 0; i < scores.length; i++) {
      this.score.observe(scores[i]!);
      const f = flags[i] ? 1 : 0;
      frauds += f;
      this.#ringFrauds += f - ring[this.#ringAt]!;
      ring[this.#ringAt] = f;
      if (++this.#ringAt === ring.length) {
        this.#ringAt = 0;
        this.#ringFull = true;
      }
    }
    this.rows.inc({ route }, scores.length);
    if (frauds > 0) this.frauds.inc({ route }, frauds);
    const seen = this.#ringFull ? ring.length : this.#ringAt;
    this.fraudRate.set(seen ? this.#ringFrauds / seen : 0);
  }

  setModel(info: ModelInfoLabels): void {
    this.modelInfo.reset();
    this.modelInfo.set({ ...info }, 1);
  }
}

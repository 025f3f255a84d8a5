// JSON schemas of the routes: they validate requests (422 on a type error, as FastAPI did), give
// fast serializers for responses, and are the source of the OpenAPI document at /docs.

export type Row = number[] | Record<string, number>;

export interface PredictBody {
  features?: number[];
  transaction?: Record<string, number>;
  instances?: Row[];
}

export interface Prediction {
  is_fraud: boolean;
  /** Hybrid models only. */
  fraud_probability?: number;
  reconstruction_error: number;
  threshold: number;
  risk_level: 'low' | 'moderate' | 'very_high';
  engine: string;
  model_version: string;
  top_features: { name: string; error_share: number }[];
}

const detail = {
  type: 'object',
  description: 'What was wrong: a message, or FastAPI-style validation items for 422.',
  properties: { detail: {} },
} as const;

const numberArray = {
  type: 'array',
  items: { type: 'number' },
  description: 'Values in the model feature order.',
} as const;
const namedRow = {
  type: 'object',
  additionalProperties: { type: 'number' },
  description: 'Values by feature name.',
} as const;

const prediction = {
  type: 'object',
  properties: {
    is_fraud: {
      type: 'boolean',
      description: 'reconstruction_error > threshold; for a hybrid model fraud_probability > threshold',
    },
    fraud_probability: {
      type: 'number',
      description: "Hybrid models (model.kind 'hybrid') only: the supervised head's fraud probability in [0, 1].",
    },
    reconstruction_error: { type: 'number', description: 'Mean squared reconstruction error in standardized space.' },
    threshold: { type: 'number' },
    risk_level: {
      type: 'string',
      enum: ['low', 'moderate', 'very_high'],
      description:
        '> threshold: moderate; very_high above 2x threshold (reconstruction error) or (1 + threshold) / 2 (hybrid probability).',
    },
    engine: { type: 'string', example: 'cpu-avx2-fp32' },
    model_version: { type: 'string' },
    top_features: {
      type: 'array',
      description: 'Features with the largest share of the squared error.',
      items: { type: 'object', properties: { name: { type: 'string' }, error_share: { type: 'number' } } },
    },
  },
} as const;

export function predictRoute(maxInstances: number, int8: boolean) {
  return {
    tags: ['scoring'],
    summary: int8 ? 'Score through the int8 engine' : 'Score transactions',
    description:
      (int8
        ? 'Same as POST /predict through the int8 quantized engine; 503 naming what is missing when the model has no int8 weights. '
        : '') +
      `JSON: one of \`features\` (values in model order), \`transaction\` (by name) or \`instances\` (up to ${maxInstances} rows, arrays or objects). ` +
      'An Arrow IPC stream body (application/vnd.apache.arrow.stream) with one column per feature returns an Arrow stream of reconstruction_error (float32) and is_fraud (uint8). ' +
      'Errors: 400 wrong feature count/unknown names/non-finite values, 413 body or batch over the limit, 415 other content types, 422 malformed JSON or wrong types.',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        top: {
          type: 'string',
          pattern: '^[1-9][0-9]{0,3}$',
          description: 'How many top contributing features to return (default 3).',
        },
      },
    },
    body: {
      content: {
        'application/json': {
          schema: {
            type: 'object',
            minProperties: 1,
            maxProperties: 1,
            additionalProperties: false,
            properties: {
              features: numberArray,
              transaction: namedRow,
              instances: { type: 'array', items: { anyOf: [numberArray, namedRow] } },
            },
          },
        },
        'application/vnd.apache.arrow.stream': {
          schema: { description: 'Arrow IPC stream with one numeric column per model feature.' },
        },
      },
    },
    response: {
      200: {
        description: 'One prediction (features/transaction) or { predictions: [...] } (instances).',
        type: 'object',
        properties: {
          ...prediction.properties,
          predictions: { type: 'array', items: prediction },
        },
      },
      400: detail,
      413: detail,
      415: detail,
      422: detail,
      503: detail,
    },
  };
}

export function healthRoute(summary: string) {
  return { tags: ['service'], summary, response: { 200: { type: 'object', additionalProperties: true } } };
}

export const readyRoute = {
  tags: ['service'],
  summary: 'Readiness: 200 once the model is loaded, 503 before (or when it failed to load).',
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } } },
    503: { type: 'object', properties: { status: { type: 'string' }, detail: { type: 'string' } } },
  },
};

export const metricsRoute = {
  tags: ['monitoring'],
  summary: 'Prometheus metrics (text exposition format).',
  response: { 200: { type: 'string' } },
};

export const monitoringRoute = {
  tags: ['monitoring'],
  summary: 'Drift report of logged predictions against the model reference sample',
  description:
    "Evidently's defaults: per feature KS test (p < 0.05) when the reference has <= 1000 rows, else Wasserstein distance normalized by the reference std (>= 0.1); PSI reported; dataset drift when >= 50% of features drift; the score distribution's drift too. " +
    'Window: the last `window` rows (default 5000) or rows since `since`. `format=html` renders a page. ' +
    "Before any logged row in the window: 200 with `status: 'waiting_for_data'` and `report: null`.",
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      window: { type: 'string', pattern: '^[1-9][0-9]{0,8}$', description: 'Last N logged rows.' },
      since: { type: 'string', description: 'ISO 8601 time: rows logged at or after it.' },
      format: { type: 'string', enum: ['json', 'html'] },
    },
  },
  response: { 404: detail },
};

export const reloadRoute = {
  tags: ['admin'],
  summary: 'Load a model and swap it in without dropping requests (bearer token when configured)',
  security: [{ bearer: [] }],
  body: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: {
      model: {
        type: 'string',
        minLength: 1,
        description: 'Model directory (default: the one the server started with). Needs a token.',
      },
    },
  },
  response: { 400: detail, 401: detail, 403: detail },
};

export const uiConfigRoute = {
  hide: true,
  summary: "The web page's configuration: model features, threshold, batch limit.",
  response: { 200: { type: 'object', additionalProperties: true } },
};

export const samplesRoute = {
  hide: true,
  summary: 'A few sample transactions (normal, fraud) for the web page.',
  response: { 200: { type: 'object', additionalProperties: true } },
};

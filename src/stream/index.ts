// `fraudscore/stream`: scoring from NATS JetStream, kept off the package root so that importing
// `fraudscore` to score in-process does not load the NATS client.
export { type BadBody, type DeadLetter, type ParsedBody, parseBody, type StreamResult } from './messages.js';
export { serveMetrics, StreamMetrics } from './metrics.js';
export { createStreamScorer, type StreamScorer, type StreamScorerOptions } from './worker.js';

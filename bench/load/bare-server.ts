// The ceiling for bench/load/run.ts: a bare Fastify server whose POST /predict parses the same JSON
// body and answers a constant. What fraudscore's /predict reaches against it is the cost of
// validation, scoring, metrics and logging on top of Fastify itself.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const answer = { is_fraud: false, reconstruction_error: 0.25, threshold: 1, engine: 'constant', model_version: '0' };
app.post('/predict', async () => answer);
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.error(`bare fastify on ${address}`);
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});

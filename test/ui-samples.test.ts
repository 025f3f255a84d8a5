// The /ui page's sample buttons show what they say (issue 16: the sample labelled "fraud" scored
// under the shipped model's threshold and showed LEGIT): every fraud sample POSTed to /predict is
// flagged and every normal one is not, with the shipped default model.
import { afterAll, describe, expect, it } from 'vitest';

import { createServer } from '../src/server/server.js';

describe('/ui/samples with the shipped model', () => {
  const app = createServer({ model: 'default', backend: 'cpu', log: false });
  afterAll(() => app.close());

  it('fraud samples are flagged and normal ones are not', async () => {
    await app.fraudscore.loaded;
    const s = (await app.inject('/ui/samples')).json() as { normal: number[][]; fraud: number[][] };
    expect(s.fraud.length).toBeGreaterThan(0);
    expect(s.normal.length).toBeGreaterThan(0);
    const decide = async (features: number[]) =>
      (await app.inject({ method: 'POST', url: '/predict', payload: { features } })).json().is_fraud as boolean;
    for (const f of s.fraud) expect(await decide(f)).toBe(true);
    for (const n of s.normal) expect(await decide(n)).toBe(false);
  });
});

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare } from '../../src/index.js';
import { judge } from '../../src/vitest.js';

const MODELS = join(import.meta.dirname, '../../cases/models');

describe('programmatic API and vitest matcher', () => {
  it('toBeEquivalent passes for a correct conversion and fails naming the first divergence', async () => {
    const good = await compare(join(MODELS, 'cnn.pb'), join(MODELS, 'cnn.keras'), { seed: 2 });
    expect(good).toBeEquivalent();
    expect(good).toBeEquivalent({ atol: 1e-4 });
    const bad = await compare(join(MODELS, 'cnn.pb'), join(MODELS, 'cnn-buggy.keras'), { seed: 2, inputs: ['x=normal(0,1)'] });
    expect(bad).not.toBeEquivalent();
    const j = judge(bad);
    expect(j.pass).toBe(false);
    expect(j.message).toMatch(/First divergence: 'dw1\/Relu6' \(Relu6\) ~ 'dw1' \(DepthwiseConv2D\).*its own/);
    expect(j.message).not.toMatch(/Warnings/);
    // A runner's warnings come with the failure: they may explain it.
    expect(judge({ ...bad, candidate: { ...bad.candidate, warnings: ["dtype policy 'mixed_float16' is computed in float32 here"] } }).message).toMatch(
      /\. Warnings: candidate: dtype policy 'mixed_float16' is computed in float32 here$/,
    );
    // A generous tolerance re-judges the same result without re-running.
    expect(judge(bad, { atol: 100 }).pass).toBe(true);
    expect(judge(bad, { atol: 100, layers: true }).pass).toBe(true);
  });

  it('the Result names both models with the sha256 and size of their files (a directory: its files in name order)', async () => {
    const r = await compare(join(MODELS, 'cnn.pb'), join(MODELS, 'cnn-tfjs'), { seed: 1, ownError: false });
    const pb = readFileSync(join(MODELS, 'cnn.pb'));
    expect(r.reference).toMatchObject({ path: join(MODELS, 'cnn.pb'), kind: 'graph', sha256: createHash('sha256').update(pb).digest('hex'), bytes: pb.length });
    const h = createHash('sha256');
    let bytes = 0;
    for (const f of readdirSync(join(MODELS, 'cnn-tfjs')).sort()) {
      const b = readFileSync(join(MODELS, 'cnn-tfjs', f));
      h.update(b);
      bytes += b.length;
    }
    expect(r.candidate.sha256).toBe(h.digest('hex'));
    expect(r.candidate.bytes).toBe(bytes);
  });
});

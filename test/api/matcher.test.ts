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
    // A generous tolerance re-judges the same result without re-running.
    expect(judge(bad, { atol: 100 }).pass).toBe(true);
    expect(judge(bad, { atol: 100, layers: true }).pass).toBe(true);
  });
});

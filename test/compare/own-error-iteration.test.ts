import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { compare } from '../../src/index.js';

const f32 = A.dtype('float32');

/**
 * Iterations keep each pair's worst metrics; its own error must come from that same iteration
 * (it had come from iteration 0, whatever iteration the metrics were from). The candidate's
 * `y` is x*x where the reference's is x*x*1.001, so its error is 0.001 x^2 and grows with the
 * input: the worst iteration is the one with the largest |x|, and `y` re-run alone on the
 * reference's x (its own error) makes exactly that error.
 */
function graph(scale: number): Uint8Array {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [64]);
  g.const('s', { dtype: 'float32', shape: [], data: Float32Array.of(scale) });
  g.op('Mul', 'sq', ['x', 'x'], { T: f32 });
  g.op('Mul', 'y', ['sq', 's'], { T: f32 });
  return encodeGraphDef(g.build(['y']));
}

describe('own error over several iterations', () => {
  it('comes from the iteration whose (worst) metrics the pair keeps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'own-iter-'));
    writeFileSync(join(dir, 'ref.pb'), graph(1.001));
    writeFileSync(join(dir, 'cand.pb'), graph(1));
    const opts = { atol: 1e-6, rtol: 0, inputs: ['x=normal(0,1)'] };
    // Which iteration is worst: each seed alone.
    const each = [];
    for (let s = 0; s < 4; s++) each.push((await compare(join(dir, 'ref.pb'), join(dir, 'cand.pb'), { ...opts, seed: s })).pairs.find((p) => p.reference === 'y')!);
    const worst = each.reduce((a, b) => (b.metrics.max_abs > a.metrics.max_abs ? b : a));
    // The worst is not the first iteration (else this test could not fail).
    expect(worst).not.toBe(each[0]);
    const r = await compare(join(dir, 'ref.pb'), join(dir, 'cand.pb'), { ...opts, seed: 0, iterations: 4 });
    const y = r.pairs.find((p) => p.reference === 'y')!;
    expect(y.pass).toBe(false);
    expect(y.metrics.max_abs).toBe(worst.metrics.max_abs);
    expect(y.own?.metrics.max_abs).toBe(worst.own!.metrics.max_abs);
  });
});

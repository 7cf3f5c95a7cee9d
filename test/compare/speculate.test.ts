import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { MAX_GUESSES, Speculator, type Side } from '../../src/compare/speculate.js';
import type { Held } from '../../src/compare/store.js';
import { hasValues } from '../../src/compare/store.js';

/**
 * Speculator on hand-made activation streams: which pairs it measures, and which values it lets
 * go (the comparison's Result does not depend on it: fault-injection.test.ts checks that).
 */
beforeAll(async () => {
  await initBackend('wasm');
});

/** An activation of `side` held as a tensor, as the comparison holds it. */
function act(name: string, values: number[], shape = [values.length]): Held {
  return { name, type: 'Conv2D', shape, dtype: 'float32', index: 0, producedFrom: [], tensor: tf.tensor(values, shape, 'float32') };
}

function ramp(n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k) * (k + 1));
}

class Harness {
  readonly spec: Speculator<string>;
  readonly measured: string[] = [];
  readonly pos: Record<Side, number> = { reference: 0, candidate: 0 };
  constructor(pinned?: (h: Held, side: Side) => boolean) {
    this.spec = new Speculator<string>(pinned);
  }
  release = (h: Held) => {
    h.tensor?.dispose();
    delete h.tensor;
  };
  async add(side: Side, h: Held): Promise<string[]> {
    const got = await this.spec.guess(
      side,
      h,
      h.tensor!,
      this.pos[side]++,
      async (r, c, cValues, t) => {
        // The values handed over are the candidate's own.
        expect(cValues.tensor ?? cValues.data).toBeTruthy();
        const key = `${r.name}~${c.name}${t.perm ? `@${t.perm.join('')}` : ''}`;
        this.measured.push(key);
        return { result: Promise.resolve(key) };
      },
      this.release,
    );
    return got.map((o) => o.name);
  }
}

describe('pairs guessed while both models run', () => {
  it('measures pairs of equal values as they arrive, whichever side comes first, and takes them by name and transform', async () => {
    const h = new Harness();
    const r = [0, 1, 2].map((k) => act(`r${k}`, ramp(64, k)));
    const c = [0, 1, 2].map((k) => act(`c${k}`, ramp(64, k)));
    expect(await h.add('reference', r[0]!)).toEqual([]);
    expect(await h.add('candidate', c[0]!)).toEqual(['r0']);
    expect(await h.add('candidate', c[1]!)).toEqual([]);
    expect(await h.add('reference', r[1]!)).toEqual(['c1']);
    expect(h.measured).toEqual(['r0~c0', 'r1~c1']);
    expect(await h.spec.take('r0', 'c0', undefined)).toBe('r0~c0');
    expect(await h.spec.take('r1:0', 'c1', {})).toBe('r1~c1');
    expect(h.spec.take('r0', 'c1', undefined)).toBeUndefined();
    expect(h.spec.take('r0', 'c0', { perm: [0] })).toBeUndefined();
  });

  it('lets measured values go once a later pair is in step, keeping their samples; the latest pair and outputs stay', async () => {
    const h = new Harness((x) => x.name === 'r1');
    const r = [0, 1, 2].map((k) => act(`r${k}`, ramp(64, k)));
    const c = [0, 1, 2].map((k) => act(`c${k}`, ramp(64, k)));
    for (let k = 0; k < 3; k++) {
      await h.add('candidate', c[k]!);
      await h.add('reference', r[k]!);
    }
    // r0/c0 and c1 are behind the pair (r2, c2); r1 is pinned (a model output).
    expect([r[0], c[0], c[1]].map((x) => hasValues(x))).toEqual([false, false, false]);
    for (const x of [r[0]!, c[0]!, c[1]!]) expect(x.samples?.get('')?.length).toBe(64);
    expect([r[1], r[2], c[2]].map((x) => hasValues(x))).toEqual([true, true, true]);
    expect(h.spec.released).toBe(3);
    tf.dispose([r[1]!.tensor!, r[2]!.tensor!, c[2]!.tensor!]);
  });

  it('never lets go an activation that matched nothing (alignment may pair it by shape alone)', async () => {
    const h = new Harness();
    const r0 = act('r0', ramp(64, 0));
    const rOdd = act('rOdd', ramp(64, 7));
    const r2 = act('r2', ramp(64, 2));
    const c0 = act('c0', ramp(64, 0));
    const cOdd = act('cOdd', ramp(64, 7).map((v, i) => (i % 2 ? -v : v)));
    const c2 = act('c2', ramp(64, 2));
    for (const [s, x] of [['reference', r0], ['candidate', c0], ['reference', rOdd], ['candidate', cOdd], ['reference', r2], ['candidate', c2]] as const) await h.add(s, x);
    expect(h.measured).toEqual(['r0~c0', 'r2~c2']);
    expect(hasValues(rOdd) && hasValues(cOdd)).toBe(true);
    expect(hasValues(r0) || hasValues(c0)).toBe(false);
    tf.dispose([rOdd.tensor!, cOdd.tensor!, r2.tensor!, c2.tensor!]);
  });

  it('does not measure a look-alike: a match less similar than the best one of either activation', async () => {
    const h = new Harness();
    const r0 = act('r0', ramp(64, 0));
    const c0 = act('c0', ramp(64, 0));
    // 0.5% larger everywhere: similarity 1 - 0.005/2.005 (about 0.9975), a strong match, but not 1.
    const c1 = act('c1', ramp(64, 0).map((v) => v * 1.005));
    const r1 = act('r1', ramp(64, 0).map((v) => v * 1.005));
    expect(await h.add('reference', r0)).toEqual([]);
    expect(await h.add('candidate', c0)).toEqual(['r0']);
    // c1 matches r0 strongly, but r0 was measured with c0 at similarity 1.
    expect(await h.add('candidate', c1)).toEqual([]);
    // r1 matches c0 (0.9975) and c1 (1): only the better is measured.
    expect(await h.add('reference', r1)).toEqual(['c1']);
    expect(h.measured).toEqual(['r0~c0', 'r1~c1']);
    // c1 was held until it was measured (alignment may still pair it with r0).
    expect(hasValues(c1)).toBe(true);
    tf.dispose([r0, c0, c1, r1].flatMap((x) => (x.tensor ? [x.tensor] : [])));
  });

  it('guesses nothing among more look-alikes than MAX_GUESSES (constant tensors), and finds permuted layouts', async () => {
    const h = new Harness();
    for (let k = 0; k <= MAX_GUESSES; k++) await h.add('candidate', act(`zero${k}`, new Array(24).fill(0), [1, 2, 3, 4]));
    expect(await h.add('reference', act('rz', new Array(24).fill(0), [1, 2, 3, 4]))).toEqual([]);
    // NHWC reference [1,3,4,2] against an NCHW candidate [1,2,3,4] holding the same values.
    const nchw = ramp(24, 3);
    const nhwc = tf.transpose(tf.tensor(nchw, [1, 2, 3, 4]), [0, 2, 3, 1]);
    await h.add('candidate', act('cT', nchw, [1, 2, 3, 4]));
    expect(await h.add('reference', act('rT', Array.from(nhwc.dataSync()), [1, 3, 4, 2]))).toEqual(['cT']);
    expect(h.measured).toEqual(['rT~cT@0231']);
    nhwc.dispose();
  });
});

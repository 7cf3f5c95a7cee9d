import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { Speculator, type Side } from '../../src/compare/speculate.js';
import type { Held } from '../../src/compare/store.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { compare } from '../../src/index.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';

/**
 * Aliases (an activation bitwise equal to its input: a ReLU6's Minimum and Maximum that clip
 * nothing) are measured once per pair of alias classes, and a second run of both models, when
 * one is needed, stops once what it is for is measured.
 */
beforeAll(async () => {
  await initBackend('wasm');
});

function act(name: string, values: number[], producedFrom: string[] = []): Held {
  return { name, type: 'Relu', shape: [values.length], dtype: 'float32', index: 0, producedFrom, tensor: tf.tensor(values, [values.length], 'float32') };
}

function ramp(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.abs(Math.sin(i * 0.37)) * 3);
}

async function feed(spec: Speculator<string>, measured: string[], pos: Record<Side, number>, side: Side, h: Held): Promise<void> {
  await spec.guess(side, h, h.tensor!, pos[side]++, async (r, c) => {
    const key = `${r.name}~${c.name}`;
    measured.push(key);
    return { result: Promise.resolve(key) };
  }, (x) => {
    x.tensor?.dispose();
    delete x.tensor;
  });
}

describe('aliases while guessing', () => {
  it('measures a pair of aliases once, and every pair of their classes takes that measurement', async () => {
    // 1024 elements: the samples read every 4th, so `near` (one unsampled element changed) samples
    // exactly like c0 but is not its alias.
    const base = ramp(1024);
    const near = base.slice();
    near[1] = near[1]! + 0.5;
    const run = async (aliases: boolean) => {
      const spec = new Speculator<string>(() => false, aliases);
      const measured: string[] = [];
      const pos: Record<Side, number> = { reference: 0, candidate: 0 };
      const r0 = act('r0', base);
      const r1 = act('r1', base, ['r0']);
      const c0 = act('c0', base);
      const c1 = act('c1', base, ['c0:0']);
      const cn = act('cNear', near, ['c1']);
      // The candidate runs ahead, as it did on faceres: c1 comes before r1.
      await feed(spec, measured, pos, 'candidate', c0);
      await feed(spec, measured, pos, 'reference', r0);
      await feed(spec, measured, pos, 'candidate', c1);
      await feed(spec, measured, pos, 'reference', r1);
      await feed(spec, measured, pos, 'candidate', cn);
      for (const h of [r0, r1, c0, c1, cn]) h.tensor?.dispose();
      return { spec, measured };
    };
    const on = await run(true);
    expect(on.spec.aliased).toBe(2);
    expect(on.measured).toEqual(['r0~c0', 'r1~cNear']);
    for (const [r, c] of [['r0', 'c0'], ['r1', 'c1'], ['r0', 'c1:0'], ['r1', 'c0']]) expect(await on.spec.take(r!, c!, undefined), `${r} ${c}`).toBe('r0~c0');
    // cNear samples like the others but is measured as itself.
    expect(await on.spec.take('r1', 'cNear', undefined)).toBe('r1~cNear');

    // Off (per-tensor tolerances): each pair is measured as itself, and what was let go before
    // its partner came (c0 before r1) has no measurement.
    const off = await run(false);
    expect(off.spec.aliased).toBe(0);
    expect(off.measured).toEqual(['r0~c0', 'r0~c1', 'r1~c1', 'r1~cNear']);
    expect(off.spec.take('r1', 'c0', undefined)).toBeUndefined();
  });
});

describe('a ReLU6 as TF writes it (Relu, Minimum, Maximum) in both models, names shared by nothing', () => {
  const f32 = A.dtype('float32');
  const dir = mkdtempSync(join(tmpdir(), 'aliases-'));
  const chain = (prefix: string) => {
    const g = new GraphBuilder();
    let x = g.placeholder('x', 'float32', [1, 96]);
    const six = g.const(`${prefix}six`, { dtype: 'float32', shape: [], data: Float32Array.of(6) });
    const zero = g.const(`${prefix}zero`, { dtype: 'float32', shape: [], data: Float32Array.of(0) });
    for (let i = 0; i < 4; i++) {
      const w = g.const(`${prefix}w${i}`, { dtype: 'float32', shape: [96, 96], data: Float32Array.from({ length: 96 * 96 }, (_, k) => Math.sin(k * 1.7 + i) * 0.12) });
      const mm = g.op('MatMul', `${prefix}mm${i}`, [x, w], { T: f32 });
      const relu = g.op('Relu', `${prefix}relu${i}/Relu`, [mm], { T: f32 });
      const min = g.op('Minimum', `${prefix}relu${i}/clip_by_value/Minimum`, [relu, six], { T: f32 });
      x = g.op('Maximum', `${prefix}relu${i}/clip_by_value`, [min, zero], { T: f32 });
    }
    return g.build([x]);
  };
  writeFileSync(join(dir, 'ref.pb'), encodeGraphDef(chain('')));
  writeFileSync(join(dir, 'cand.pb'), encodeGraphDef(chain('z_')));

  const runs: { activations: number }[] = [];
  const original = Interpreter.prototype.run;
  Interpreter.prototype.run = async function* (this: Interpreter, ...args: Parameters<typeof original>) {
    const r = { activations: 0 };
    runs.push(r);
    for await (const a of original.apply(this, args)) {
      r.activations++;
      yield a;
    }
  } as typeof original;
  const take = Speculator.prototype.take;
  afterEach(() => {
    Speculator.prototype.take = take;
  });
  const compareWith = async (env: Record<string, string>) => {
    Object.assign(process.env, env);
    runs.length = 0;
    try {
      return await compare(join(dir, 'ref.pb'), join(dir, 'cand.pb'), { seed: 2, inputs: ['x=uniform(0,1)'] });
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  };
  // With the detail an output pair has (histogram, worst elements): an output is nobody's alias.
  const facts = (r: Awaited<ReturnType<typeof compare>>) => r.pairs.map((p) => [p.reference, p.candidate, p.metrics, p.pass, p.histogram, p.worst]);

  it('guessed pairs cover every pair: no second run, and the Result of nothing guessed', async () => {
    const full = await compareWith({ PARITY_GUESS: '0' });
    expect(full.verdict).toBe('equivalent');
    expect(full.pairs.length).toBe(16);
    // All values held: each model runs once.
    expect(runs.length).toBe(2);
    // Guessed, values let go behind the guesses: the pairs alignment makes between aliases
    // (Relu~Relu, Minimum~Minimum, ...) take the measurement of the pair guessed first.
    const r = await compareWith({ PARITY_GUESS_MIN: '0' });
    expect(facts(r)).toEqual(facts(full));
    expect(runs.length).toBe(2);
    // Nothing held at all: both run again, for every pair.
    const none = await compareWith({ PARITY_GUESS_MIN: '0', PARITY_HOLD_BYTES: '0' });
    expect(facts(none)).toEqual(facts(full));
    expect(runs.length).toBe(4);
  });

  it('a second run stops once the pairs it runs for are measured', async () => {
    const full = await compareWith({ PARITY_GUESS: '0' });
    // The guess for the first layer's pair is lost, and its values went behind later guesses:
    // both must run again for it.
    Speculator.prototype.take = function (this: Speculator<unknown>, reference: string, candidate: string, t) {
      return reference === 'mm0' ? undefined : take.call(this, reference, candidate, t);
    } as typeof take;
    const before = tf.memory().numTensors;
    const r = await compareWith({ PARITY_GUESS_MIN: '0' });
    expect(facts(r)).toEqual(facts(full));
    expect(runs.length).toBe(4);
    // The runs ended early leave no tensor behind.
    expect(tf.memory().numTensors).toBe(before);
    const [first, , again] = runs.map((x) => x.activations);
    // The first run yields every activation (the input, the 16 layers); the second stops after mm0.
    expect(first).toBeGreaterThanOrEqual(17);
    expect(again).toBeLessThanOrEqual(3);
  });
});

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { importSharedMemory } from '../../src/backend/shared-heap.js';
import { wasmHeapView } from '../../src/compare/device.js';
import { MetricsPool } from '../../src/compare/simd/pool.js';
import type { Held } from '../../src/compare/store.js';
import { measure, measureLater } from '../../src/compare/store.js';
import wabtInit from 'wabt';

const ROOT = join(import.meta.dirname, '..', '..');

/** A module defining its own memory (2 pages, no maximum) and importing one function, as emscripten builds do. */
async function sample(memory = '(memory (export "memory") 2)'): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const m = wabt.parseWat('t.wat', `(module (import "env" "log" (func $log (param i32))) ${memory}
    (func (export "put") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "get") (param i32) (result i32) (i32.load (local.get 0))))`, { threads: true });
  const out = m.toBinary({}).buffer;
  m.destroy();
  return out;
}

describe('shared tfjs heap', () => {
  it('turns a defined memory into an import of a shared one, and the code runs on it', async () => {
    const bin = await sample();
    const patched = importSharedMemory(bin, 100)!;
    expect(patched.initialPages).toBe(2);
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 100, shared: true });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(patched.bytes as Uint8Array<ArrayBuffer>), { env: { log: () => {}, memory } });
    const e = inst.exports as { put(a: number, v: number): void; get(a: number): number; memory: WebAssembly.Memory };
    e.put(64, 123456);
    // The module's exported memory is the one given, and it is shared: another view sees the write.
    expect(e.memory).toBe(memory);
    expect(memory.buffer instanceof SharedArrayBuffer).toBe(true);
    expect(new Int32Array(memory.buffer)[16]).toBe(123456);
    expect(e.get(64)).toBe(123456);
    expect(patched.maximumPages).toBe(100);
    // Without a maximum of its own, the one given is used (never below the initial size); with
    // one, the module's own.
    expect(importSharedMemory(bin, 1)!.maximumPages).toBe(2);
    const own = importSharedMemory(await sample('(memory (export "memory") 3 40)'), 100)!;
    expect([own.initialPages, own.maximumPages]).toEqual([3, 40]);
    const m3 = new WebAssembly.Memory({ initial: 3, maximum: 40, shared: true });
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(own.bytes as Uint8Array<ArrayBuffer>), { env: { log: () => {}, memory: m3 } })).not.toThrow();
  });

  it('leaves alone what it does not understand: no memory, a shared one, not wasm, cut short', async () => {
    expect(importSharedMemory(await sample(''), 100)).toBeNull();
    expect(importSharedMemory(await sample('(memory (export "memory") 1 10 shared)'), 100)).toBeNull();
    expect(importSharedMemory(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 100)).toBeNull();
    const bin = await sample();
    expect(importSharedMemory(bin.subarray(0, bin.length - 5), 100)).toBeNull();
  });

  it('the wasm backend runs on a shared heap by default, with the same results as the cpu backend', () => {
    if (tf.getBackend() !== 'wasm') return;
    const x = tf.randomNormal<tf.Rank.R4>([1, 17, 19, 5], 0, 1, 'float32', 3);
    const w = tf.randomNormal<tf.Rank.R4>([3, 3, 5, 7], 0, 1, 'float32', 4);
    const y = tf.conv2d(x, w, [2, 1], 'same', 'NHWC', [1, 1]);
    expect(wasmHeapView(y)!.memory.buffer instanceof SharedArrayBuffer).toBe(true);
    const onWasm = y.dataSync().slice();
    // The same convolution computed independently, by the cpu backend.
    const engine = tf.engine() as unknown as { backendName: string; backendInstance: unknown; registry: Record<string, unknown> };
    const [name, inst] = [engine.backendName, engine.backendInstance];
    engine.backendName = 'cpu';
    engine.backendInstance = engine.registry.cpu;
    try {
      const xc = tf.tensor(x.dataSync(), x.shape);
      const wc = tf.tensor(w.dataSync(), w.shape);
      const yc = tf.conv2d(xc as tf.Tensor4D, wc as tf.Tensor4D, [2, 1], 'same', 'NHWC', [1, 1]);
      const ref = yc.dataSync();
      for (let i = 0; i < ref.length; i++) expect(Math.abs(onWasm[i]! - ref[i]!)).toBeLessThan(1e-4);
      tf.dispose([xc, wc, yc]);
    } finally {
      engine.backendName = name;
      engine.backendInstance = inst;
    }
    tf.dispose([x, w, y]);
  });

  it("the metrics thread reads pairs in place on it ('thread'), with exactly measure()'s numbers, and keeps them alive until it has", async () => {
    if (tf.getBackend() !== 'wasm') return;
    const pool = MetricsPool.get()!;
    for (let i = 0; i < 400 && !pool.available(); i++) await new Promise((r) => setTimeout(r, 5));
    const held = (t: tf.Tensor): Held => ({ name: 'r', type: 'X', shape: t.shape.slice(), dtype: 'float32', index: 0, producedFrom: [], tensor: t });
    const r = tf.randomNormal([4, 64, 64, 8], 0, 1, 'float32', 5);
    const c = tf.add(r, tf.randomUniform([4, 64, 64, 8], -1e-3, 1e-3, 'float32', 6));
    const cT = tf.transpose(c, [0, 3, 1, 2]);
    const opts = { atol: 5e-4, rtol: 0 };
    const now = measure(held(r), { tensor: c, shape: c.shape.slice() }, undefined, opts, () => true);
    const before = tf.memory().numTensors;
    const later = measureLater(held(r), { tensor: c, shape: c.shape.slice() }, undefined, opts, () => true, 'thread');
    const laterT = measureLater(held(r), { tensor: cT, shape: cT.shape.slice() }, { perm: [0, 2, 3, 1] }, opts, () => true, 'thread');
    // Our handles on the values (and the transposition) live until the thread is done.
    tf.dispose([r, c, cT]);
    expect(tf.memory().numTensors).toBeGreaterThan(before - 3);
    for (const l of [await later.result, await laterT.result]) {
      expect(l.m).toEqual(now.m);
      expect(Array.from(l.host!.cand.slice(0, 64))).toEqual(Array.from(now.host!.cand.slice(0, 64)));
    }
    expect(tf.memory().numTensors).toBe(before - 3);
  });

  it('in-place jobs still out when the thread goes away are measured on the main thread, and their handles let go', async () => {
    if (tf.getBackend() !== 'wasm') return;
    const pool = MetricsPool.get()!;
    for (let i = 0; i < 400 && !pool.available(); i++) await new Promise((r) => setTimeout(r, 5));
    const held = (t: tf.Tensor): Held => ({ name: 'r', type: 'X', shape: t.shape.slice(), dtype: 'float32', index: 0, producedFrom: [], tensor: t });
    const before = tf.memory().numTensors;
    const r = tf.randomNormal([300, 1000], 0, 1, 'float32', 9);
    const c = tf.mul(r, 1.001);
    const opts = { atol: 1e-4, rtol: 0 };
    const expected = measure(held(r), { tensor: c, shape: c.shape.slice() }, undefined, opts, () => false).m;
    const outs = [];
    for (let k = 0; k < 8; k++) outs.push(measureLater(held(r), { tensor: c, shape: c.shape.slice() }, undefined, opts, () => false, 'thread').result);
    tf.dispose([r, c]);
    await MetricsPool.shutdown();
    for (const o of outs) expect((await o).m).toEqual(expected);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('PARITY_SHARED_HEAP=0 keeps the heap private, and comparing still works', () => {
    const script = `
      const { initBackend } = await import(${JSON.stringify(join(ROOT, 'dist/src/backend/index.js'))});
      const { compare } = await import(${JSON.stringify(join(ROOT, 'dist/src/index.js'))});
      const { MetricsPool } = await import(${JSON.stringify(join(ROOT, 'dist/src/compare/simd/pool.js'))});
      const tf = await import('@tensorflow/tfjs-core');
      await initBackend('wasm');
      const shared = tf.backend().wasm.asm.memory.buffer instanceof SharedArrayBuffer;
      const r = await compare(${JSON.stringify(join(ROOT, 'cases/models/cnn.pb'))}, ${JSON.stringify(join(ROOT, 'cases/models/cnn-tfjs'))}, { seed: 1, ownError: false });
      await MetricsPool.shutdown();
      console.log(JSON.stringify({ shared, verdict: r.verdict }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, PARITY_SHARED_HEAP: '0' }, encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ shared: false, verdict: 'equivalent' });
  });
});

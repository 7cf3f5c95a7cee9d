import { describe, expect, it } from 'vitest';
import { WASM_MODEL_BYTES_LIMIT, initBackend } from '../../src/backend/index.js';
import { tf } from '../../src/backend/tf.js';

// Past 1.5 GiB of model files the automatic choice takes cpu (weights used where they were read)
// over wasm (each weight copied into the heap and packed by XNNPACK on every run).
describe.skipIf(process.env.PARITY_BACKEND !== undefined || tf.getBackend() !== 'wasm')('backend choice by model size', () => {
  const huge = 2 * WASM_MODEL_BYTES_LIMIT;

  it('an automatic choice skips wasm for models past the limit, says why, and comes back for small ones', async () => {
    const big = await initBackend('auto', { modelBytes: huge });
    expect(big.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(big.note).toMatch(/^running on cpu: the models' 3\.2 GB of weights are used where they were read .*--backend wasm to use it anyway/);
    const small = await initBackend('auto', { modelBytes: 1e6 });
    expect(small.name).toBe('wasm');
    expect(small.note).toBeUndefined();
    expect(tf.getBackend()).toBe('wasm');
    // At the limit itself wasm is kept.
    expect((await initBackend('auto', { modelBytes: WASM_MODEL_BYTES_LIMIT })).name).toBe('wasm');
  });

  it('a backend asked for by name is used whatever the size, with no note', async () => {
    const wasm = await initBackend('wasm', { modelBytes: huge });
    expect(wasm.name).toBe('wasm');
    expect(wasm.note).toBeUndefined();
    expect((await initBackend('cpu', { modelBytes: huge })).note).toBeUndefined();
    await initBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});

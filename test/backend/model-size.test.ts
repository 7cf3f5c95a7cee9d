import { describe, expect, it } from 'vitest';
import { WASM_MODEL_BYTES_LIMIT, initBackend } from '../../src/backend/index.js';
import { tf } from '../../src/backend/tf.js';
import { LimitError } from '../../src/core/errors.js';

// The wasm heap is 4 GiB at most and XNNPACK keeps a packed copy of each dense/conv weight:
// a 2.4 GB SavedModel (bench/big-variables.ts) failed inside XNNPACK on wasm and ran on cpu.
describe.skipIf(process.env.PARITY_BACKEND !== undefined || tf.getBackend() !== 'wasm')('backend choice by model size', () => {
  const huge = 2 * WASM_MODEL_BYTES_LIMIT;

  it('an automatic choice skips wasm for models past the limit, says why, and comes back for small ones', async () => {
    const big = await initBackend('auto', { modelBytes: huge });
    expect(big.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(big.note).toMatch(/^running on cpu: the models' 3\.2 GB of files do not fit the wasm backend's 4 GB heap/);
    const small = await initBackend('auto', { modelBytes: 1e6 });
    expect(small.name).toBe('wasm');
    expect(small.note).toBeUndefined();
    expect(tf.getBackend()).toBe('wasm');
    // At the limit itself wasm is kept.
    expect((await initBackend('auto', { modelBytes: WASM_MODEL_BYTES_LIMIT })).name).toBe('wasm');
  });

  it('wasm asked for a model past the limit is refused in one line', async () => {
    await expect(initBackend('wasm', { modelBytes: huge })).rejects.toThrow(LimitError);
    await expect(initBackend('wasm', { modelBytes: huge })).rejects.toThrow(/^the models' 3\.2 GB of files do not fit the wasm backend's 4 GB heap .*use --backend cpu/);
    expect(tf.getBackend()).toBe('wasm');
    // cpu asked for explicitly has no note.
    expect((await initBackend('cpu', { modelBytes: huge })).note).toBeUndefined();
    await initBackend('wasm');
  });
});

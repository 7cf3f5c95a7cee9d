import seedrandom from 'seedrandom';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { doubleStream } from '../../src/inputs/kernel/arc4.js';
// @ts-expect-error plain ESM script without types
import { compileWat, tsModule } from '../../scripts/build-wasm.mjs';

const ROOT = join(import.meta.dirname, '..', '..');

describe('ARC4 double stream (arc4.wat)', () => {
  it('the committed bytes are what the build script makes of arc4.wat', async () => {
    const bytes = await compileWat(join(ROOT, 'src/inputs/kernel/arc4.wat'));
    expect(readFileSync(join(ROOT, 'src/inputs/kernel/arc4-wasm.ts'), 'utf8')).toBe(tsModule('src/inputs/kernel/arc4.wat', bytes));
  });

  const keys = ['', 'a', 'tf-parity:0:x', 'tf-parity:123456:serving_default_input_1', 'ü→漢字', 'k'.repeat(300) + 'z', 'x'.repeat(256)];
  for (const key of keys) {
    it(`gives seedrandom's doubles for key ${JSON.stringify(key.length > 20 ? key.slice(0, 20) + '…' : key)} (${key.length} chars), across chunk boundaries (1 in 16 doubles takes an eighth byte)`, () => {
      const ref = seedrandom(key);
      const s = doubleStream(key);
      // Single draws, then a bulk take of 20,000 (five wasm chunks) that starts inside the
      // single-draw buffer, then single draws again, then another take.
      const got: number[] = [];
      for (let k = 0; k < 5; k++) got.push(s.next());
      got.push(...s.take(20000));
      for (let k = 0; k < 100; k++) got.push(s.next());
      got.push(...s.take(9000), ...s.take(0), ...s.take(1));
      for (let k = 0; k < got.length; k++) {
        const want = ref.double();
        if (got[k] !== want) expect(`draw ${k}: ${got[k]}`).toBe(`draw ${k}: ${want}`);
      }
    });
  }

  it('keeps each stream its own when several are drawn from in turn', () => {
    const refs = [seedrandom('s1'), seedrandom('s2'), seedrandom('s3')];
    const streams = [doubleStream('s1'), doubleStream('s2'), doubleStream('s3')];
    for (let k = 0; k < 3000; k++) {
      const s = (k * 7) % 3;
      // Streams interleave inside one wasm instance: single draws and takes of varied sizes.
      const got = k % 5 === 0 ? [...streams[s]!.take(k % 97)] : [streams[s]!.next()];
      for (const g of got) {
        const want = refs[s]!.double();
        if (g !== want) expect(`stream ${s} step ${k}: ${g}`).toBe(`stream ${s} step ${k}: ${want}`);
      }
    }
  });
});

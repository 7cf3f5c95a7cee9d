import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tfEsm from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { tfl } from '../../src/runners/tfl.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('tfjs loaded with require()', () => {
  it('is the one tfjs-core an import gives (one engine), and tfjs-layers works on it', () => {
    expect(tf.add).toBe(tfEsm.add);
    expect(tf.engine()).toBe(tfEsm.engine());
    const d = tfl.layers.dense({ units: 1, inputShape: [2], useBias: false, kernelInitializer: 'ones' });
    const y = d.apply(tf.tensor2d([[1, 2]])) as tfEsm.Tensor;
    expect(Array.from(y.dataSync())).toEqual([3]);
    y.dispose();
  });

  it('no source file imports a tfjs package as a value (each such import costs every process the scan of a CommonJS bundle)', () => {
    const offenders: string[] = [];
    for (const f of sources(SRC)) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'(@tensorflow\/[^']+)'|^import\s+'(@tensorflow\/[^']+)'|\bimport\('(@tensorflow\/[^']+)'\)/gm)) offenders.push(`${f.slice(SRC.length + 1)}: ${m[1] ?? m[2] ?? m[3]}`);
    }
    expect(offenders).toEqual([]);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DType } from '../../../src/core/dtype.js';
import type { Attr } from '../../../src/graph/ir.js';
import { A, expectClose, host, runOp } from '../../fixtures/graph.js';

/**
 * Op kernels against float64 numpy implementations of TensorFlow semantics
 * (test/fixtures/gen/ops_goldens.py; nothing there uses TensorFlow or tfjs).
 */
interface GoldenTensor {
  dtype: DType;
  shape: number[];
  values: number[];
}
interface GoldenCase {
  name: string;
  op: string;
  attrs: Record<string, unknown>;
  inputs: GoldenTensor[];
  outputs: GoldenTensor[];
}

const golden = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/goldens/ops.json'), 'utf8')) as { cases: GoldenCase[] };

function toAttr(v: unknown): Attr {
  if (typeof v === 'boolean') return A.bool(v);
  if (typeof v === 'string') return A.str(v);
  if (typeof v === 'number') return Number.isInteger(v) ? A.int(v) : A.float(v);
  if (Array.isArray(v)) return A.ints(v as number[]);
  throw new Error(`attr ${String(v)}`);
}

describe('op kernels vs numpy goldens', () => {
  for (const c of golden.cases) {
    it(c.name, async () => {
      const attrs = Object.fromEntries(Object.entries(c.attrs).map(([k, v]) => [k, k === 'epsilon' ? A.float(v as number) : toAttr(v)]));
      const outs = await runOp(c.op, c.inputs.map((t) => host(t.dtype, t.shape, t.values)), attrs, c.outputs.length);
      c.outputs.forEach((exp, i) => {
        expect(outs[i]!.shape).toEqual(exp.shape);
        expectClose(outs[i]!.values, exp.values, 2e-5, 2e-5);
      });
    });
  }
});

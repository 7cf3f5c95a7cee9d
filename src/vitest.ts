/**
 * A vitest matcher for comparison results:
 *
 *   import 'tf-parity/vitest';
 *   import { compare } from 'tf-parity';
 *   expect(await compare('model.pb', 'model.keras')).toBeEquivalent({ atol: 1e-4 });
 *
 * With a tolerance, the outputs are judged again from the tolerance each output needed
 * (metrics.ts neededTolerance: at the run's rtol and error scale), without running the models again.
 */
import { expect } from 'vitest';
import type { PairResult, Result } from './compare/result.js';
import { type ErrorScale, neededTolerance } from './compare/metrics.js';
import { errorScaleOf, num } from './report/console.js';

export interface EquivalenceOptions {
  atol?: number;
  /** Judge every compared layer instead of the final outputs. */
  layers?: boolean;
}

function passesAt(p: PairResult, atol: number | undefined, scale: ErrorScale): boolean {
  if (atol === undefined) return p.pass;
  const other = p.failed.filter((f) => f !== 'allclose');
  return other.length === 0 && neededTolerance(p.metrics, p.referenceStats, p.tolerance, scale).atol <= atol;
}

export function judge(r: Result, opts: EquivalenceOptions = {}): { pass: boolean; message: string } {
  if (r.verdict === 'error') return { pass: false, message: `comparison failed: ${r.error?.message ?? r.summary}` };
  const pairs = opts.layers ? r.pairs : r.pairs.filter((p) => p.isOutput);
  const judged = pairs.length ? pairs : r.pairs;
  const failing = judged.filter((p) => !passesAt(p, opts.atol, errorScaleOf(r)));
  if (!failing.length) return { pass: true, message: `${r.candidate.path} is equivalent to ${r.reference.path} (${judged.length} pairs)` };
  const fd = r.firstDivergence !== undefined ? r.pairs[r.firstDivergence] : failing[0]!;
  const own = fd?.own ? `; own error ${num(fd.own.metrics.max_abs)} (${fd.own.pass ? 'inherited' : 'its own'})` : '';
  // What a runner did differently from the saved model may be the explanation.
  const warned = (['reference', 'candidate'] as const).flatMap((k) => (r[k].warnings ?? []).map((w) => `${k}: ${w}`));
  const warn = warned.length ? `. Warnings: ${warned.join('; ')}` : '';
  return {
    pass: false,
    message:
      `expected ${r.candidate.path} to be equivalent to ${r.reference.path}` +
      `${opts.atol !== undefined ? ` within atol ${opts.atol}` : ''}, but ${failing.length} of ${judged.length} pairs fail. ` +
      `First divergence: '${fd!.reference}' (${fd!.referenceOp}) ~ '${fd!.candidate}' (${fd!.candidateType}), max_abs ${num(fd!.metrics.max_abs)}, ` +
      `needs atol >= ${num(neededTolerance(fd!.metrics, fd!.referenceStats, fd!.tolerance, errorScaleOf(r)).atol)}${own}${warn}`,
  };
}

expect.extend({
  toBeEquivalent(received: Result, opts: EquivalenceOptions = {}) {
    const { pass, message } = judge(received, opts);
    return { pass, message: () => (pass ? `expected not: ${message}` : message) };
  },
});

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- must match vitest's own declaration
  interface Matchers<T = any> {
    toBeEquivalent(opts?: EquivalenceOptions): T;
  }
}

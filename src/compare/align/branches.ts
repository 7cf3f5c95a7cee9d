import type { ActInfo } from './types.js';
import { normaliseName } from './types.js';
import type { Paired, SegmentContext } from './monotone.js';
import { alignUnpaired } from './monotone.js';
import type { Wiring } from './wiring.js';

/**
 * Parallel branches, and whatever values do not pair, pair by their wiring. The monotone alignment follows both execution orders,
 * and two exporters order parallel branches differently (TF runs a detector's class and box
 * heads per scale, a port all class heads first): whatever runs in another order is left out
 * of it. What it leaves unpaired is grouped, on each side, by the pairs it reads (its nearest
 * paired ancestors through unpaired activations: the box head of the 8x8 map reads the pair of
 * that map's ReLU on both sides), and the activations of the two sides that read the same pairs
 * are aligned with each other by the same monotone programme, as a segment of their own.
 * Repeated while it pairs anything: a branch paired makes the groups after it.
 *
 * Run twice: by values only (`valuesOnly`: branches in another order), then allowing pairs by
 * shape alone. Past a divergence values pair nothing, and a pair by shape is made only between
 * activations that read the same pairs: a box head's conv never pairs with the class head of
 * another scale because both have the shape of a head (before, the monotone alignment made
 * such pairs across branches whenever the two orders differed).
 */
export function pairBranches(done: Paired, ctx: SegmentContext): void {
  const { refs, cands, usedRef, usedCand, pairs } = done;
  const refWiring = ctx.refWiring!;
  const candWiring = ctx.candWiring!;
  const { valuesOnly } = ctx;
  for (let round = 0; round < 32; round++) {
    const before = pairs.length;
    const pairOfRef = new Map<string, number>();
    const pairOfCand = new Map<string, number>();
    pairs.forEach((p, k) => {
      pairOfRef.set(normaliseName(p.reference), k);
      pairOfCand.set(normaliseName(p.candidate), k);
    });
    const groups = new Map<string, { R: ActInfo[]; C: ActInfo[] }>();
    const group = (key: string) => {
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { R: [], C: [] }));
      return g;
    };
    for (const r of refs) {
      if (usedRef.has(r.name)) continue;
      const key = upstreamPairs(normaliseName(r.name), refWiring, pairOfRef);
      // By values, what reads no pair (before the first) was the monotone alignment's to pair.
      if (key || !valuesOnly) group(key).R.push(r);
    }
    for (const c of cands) {
      if (usedCand.has(c.name)) continue;
      const key = upstreamPairs(normaliseName(c.name), candWiring, pairOfCand);
      groups.get(key)?.C.push(c);
    }
    for (const { R, C } of groups.values()) alignUnpaired(R, C, done, ctx);
    if (pairs.length === before) return;
  }
}

/** The pairs an activation reads through unpaired activations, as a key ('' when none). */
function upstreamPairs(name: string, w: Wiring, pairOf: Map<string, number>): string {
  const found = new Set<number>();
  const seen = new Set<string>();
  const stack = [...(w.inputs.get(name) ?? [])];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x)) continue;
    seen.add(x);
    const k = pairOf.get(x);
    if (k !== undefined) found.add(k);
    else stack.push(...(w.inputs.get(x) ?? []));
  }
  return [...found].sort((a, b) => a - b).join(',');
}

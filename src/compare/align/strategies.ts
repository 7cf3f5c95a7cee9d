import { numElements } from '../../core/tensor.js';
import { InputError } from '../../core/errors.js';
import { monotoneAlign } from './monotone.js';
import { wiring } from './wiring.js';
import { pairBranches } from './branches.js';
import { distrustWarning, namesContradicted } from './names-vs-values.js';
import type { SampleCache as SampleCacheT } from './similarity.js';
import { SampleCache, chooseTransform } from './similarity.js';
import { candidateTransforms, transformFits } from './transforms.js';
import type { ActInfo, AlignedPair, Alignment, Strategy, Transform } from './types.js';
import { isPairable, normaliseName, pairKey } from './types.js';
import { exactNameMatch } from './early-pairs.js';


/**
 * Pairs reference nodes with candidate layers. Strategies, applied in this order:
 *  1. a user map file (`map`), 2. names (exact, then Keras layer = last node of its TF scope),
 *     names the values contradict are undone (names-vs-values.ts),
 *  3. numeric: a monotone (topology-consistent) alignment of the remaining activations by
 *     shape and values on the seeded feeds, layout-aware (NCHW vs NHWC, flattened vs not),
 *     then parallel branches left out of it, by the pairs they read (branches.ts),
 *  4. final outputs paired by shape when nothing else paired them and the shape tells which.
 */


export interface AlignOptions {
  map?: Alignment;
  /** Pairs decided while the candidate ran (see EarlyPairs), kept as they are. */
  decided?: AlignedPair[];
  /** Disable numeric alignment (names and map only). */
  namesOnly?: boolean;
  /** Final outputs of each side (paired by shape as a last resort, when the shape tells which). */
  referenceOutputs?: string[];
  candidateOutputs?: string[];
  /** Samples already gathered (while the models ran: see speculate.ts). */
  samples?: SampleCacheT;
}

export function align(refActs: ActInfo[], candActs: ActInfo[], opts: AlignOptions = {}): Alignment {
  const refs = refActs.filter((a) => isPairable(a, 'reference'));
  const cands = candActs.filter((a) => isPairable(a, 'candidate'));
  const refByName = new Map(refActs.map((a) => [normaliseName(a.name), a]));
  const candByName = new Map(candActs.map((a) => [normaliseName(a.name), a]));
  const pairs: AlignedPair[] = [];
  const usedRef = new Set<string>();
  const usedCand = new Set<string>();
  const add = (r: ActInfo, c: ActInfo, strategy: Strategy, confidence: number, transform?: Transform) => {
    pairs.push({ reference: r.name, candidate: c.name, strategy, confidence, ...(transform && (transform.perm || transform.reshape) ? { transform } : {}) });
    usedRef.add(r.name);
    usedCand.add(c.name);
  };
  const samples = opts.samples ?? new SampleCache();
  const bestTransform = (r: ActInfo, c: ActInfo, ts?: Transform[]) => chooseTransform(r, c, ts, samples);

  // 0. pairs decided while the candidate ran
  const decidedKeys = new Set<string>();
  for (const p of opts.decided ?? []) {
    const r = refByName.get(normaliseName(p.reference));
    const c = candByName.get(normaliseName(p.candidate));
    if (!r || !c) continue;
    pairs.push(p);
    usedRef.add(r.name);
    usedCand.add(c.name);
    decidedKeys.add(pairKey(p.reference, p.candidate));
  }

  // 1. map file
  if (opts.map) {
    for (const p of opts.map.pairs) {
      if (decidedKeys.has(pairKey(p.reference, p.candidate))) continue;
      const r = refByName.get(normaliseName(p.reference));
      const c = candByName.get(normaliseName(p.candidate));
      if (!r) throw new InputError(`alignment map: reference '${p.reference}' is not an activation of the reference model`);
      if (!c) throw new InputError(`alignment map: candidate '${p.candidate}' is not an activation of the candidate model`);
      const t = p.transform ?? bestTransform(r, c)?.t;
      if (!transformFits(r, c, t)) {
        const how = p.transform ? ` under the transform ${JSON.stringify(p.transform)}` : '';
        throw new InputError(`alignment map: '${p.reference}' [${r.shape}] and '${p.candidate}' [${c.shape}] cannot be compared${how}: ${numElements(r.shape) !== numElements(c.shape) ? 'different element counts' : 'the permutation does not turn one shape into the other'}`);
      }
      add(r, c, 'map', 1, t);
    }
  }

  // 2. names: exact names first (whatever the order), then TF scopes
  for (const c of cands) {
    if (usedCand.has(c.name)) continue;
    const exact = exactNameMatch(refByName, c);
    if (exact && !usedRef.has(exact.name)) add(exact, c, 'name', 1, bestTransform(exact, c)?.t);
  }
  // Each reference's scope path and element count, once (every candidate reads them all).
  const refScopes = refs.map((r) => ({ r, path: '/' + normaliseName(r.name) + '/', n: numElements(r.shape) }));
  for (const c of cands) {
    if (usedCand.has(c.name)) continue;
    const cn = normaliseName(c.name);
    const inScope = '/' + cn + '/';
    const kernel = '/' + cn + '/kernel/';
    const cnt = numElements(c.shape);
    // Keras layer `conv2d_3` ~ TF scope `…/conv2d_3/…`: the last node of that scope in execution order.
    const scoped = refScopes
      .filter((x) => x.n === cnt && !usedRef.has(x.r.name) && x.path.includes(inScope) && !x.path.endsWith(kernel))
      .map((x) => x.r);
    if (scoped.length) {
      const r = scoped[scoped.length - 1]!;
      const bt = bestTransform(r, c);
      add(r, c, 'name', 0.9, bt?.t);
    }
  }

  // 2b. names the values contradict (an exporter's renaming) are undone: values pair those.
  const distrusted = opts.namesOnly ? [] : namesContradicted(pairs, refs, cands, refByName, candByName, samples);
  if (distrusted.length) {
    const undo = new Set(distrusted.map((d) => pairKey(d.reference, d.candidate)));
    for (let k = pairs.length - 1; k >= 0; k--) {
      const p = pairs[k]!;
      if (!undo.has(pairKey(p.reference, p.candidate))) continue;
      pairs.splice(k, 1);
      usedRef.delete(refByName.get(normaliseName(p.reference))!.name);
      usedCand.delete(candByName.get(normaliseName(p.candidate))!.name);
    }
  }

  // 3. numeric, monotone between the anchors found so far.
  if (!opts.namesOnly) {
    const refWiring = wiring(refActs);
    const candWiring = wiring(candActs);
    // 3a. by values, monotone between the anchors; 3b. parallel branches the two execution
    // orders put in another order, by values and what they read; 3c. what values leave
    // unpaired (past a divergence), by shape, among activations that read the same pairs.
    const done = { refs, cands, usedRef, usedCand, pairs };
    const byValues = { samples, add, refWiring, candWiring, valuesOnly: true };
    monotoneAlign(done, byValues);
    pairBranches(done, byValues);
    pairBranches(done, { ...byValues, valuesOnly: false });
  }

  // 4. outputs by shape: an output still unpaired pairs with the other side's only unpaired
  // output its shape fits, when that one fits no other (never by order alone: a signature may
  // list its outputs in another order than the port; stages/outputs.ts says why one stays unpaired).
  const ro = (opts.referenceOutputs ?? []).map((n) => refByName.get(normaliseName(n))).filter((a): a is ActInfo => !!a && isPairable(a, 'reference'));
  const co = (opts.candidateOutputs ?? []).map((n) => candByName.get(normaliseName(n))).filter((a): a is ActInfo => !!a && isPairable(a, 'candidate'));
  /** The shapes fit: the same, a layout permutation, or a reshape across ranks (a flatten). */
  const fits = (r: ActInfo, c: ActInfo) => candidateTransforms(r, c).some((t) => !t.reshape || r.shape.length !== c.shape.length);
  for (const r of ro) {
    if (usedRef.has(r.name)) continue;
    const cs = co.filter((c) => !usedCand.has(c.name) && fits(r, c));
    if (cs.length !== 1) continue;
    const c = cs[0]!;
    if (ro.filter((r2) => !usedRef.has(r2.name) && fits(r2, c)).length !== 1) continue;
    const bt = bestTransform(r, c);
    add(r, c, 'output', bt ? bt.sim : 0, bt?.t);
  }

  const order = new Map(refActs.map((a, i) => [a.name, i]));
  pairs.sort((a, b) => order.get(a.reference)! - order.get(b.reference)!);
  return {
    version: 1,
    pairs,
    ...(distrusted.length ? { warnings: [distrustWarning(distrusted)] } : {}),
    unmatched: {
      reference: refs.filter((r) => !usedRef.has(r.name)).map((r) => r.name),
      candidate: cands.filter((c) => !usedCand.has(c.name)).map((c) => c.name),
    },
  };
}


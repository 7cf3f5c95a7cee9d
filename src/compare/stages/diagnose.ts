import { stripPort as norm } from '../../core/names.js';
import { opRole } from '../../core/runner.js';
import { numElements } from '../../core/tensor.js';
import type { ActInfo } from '../align/index.js';
import { PERMS, STRONG_SIMILARITY, isMovement, isPairable, sameShape, transposeShape } from '../align/index.js';
import type { PairResult, ShapesPart } from '../result.js';

/**
 * Stage 6, diagnose (pure): where the candidate goes wrong. Each pair's upstream pairs (the
 * nearest compared ancestors through the reference graph), which pairs the alignment is unsure
 * of (and the candidates it hesitated between), which own errors really are a layer's own, the
 * first divergence (a failing pair the alignment is sure of whose sure upstream pairs all pass),
 * the root cause (the first such failing pair whose own error fails too, else the first
 * divergence, unless the shapes part before it), where the shapes of the two models part, and
 * what the reference computes before them that nothing pairs with (what the conversion may
 * lack). Plain data in, plain data out.
 */

/** What diagnose() reads of a reference activation: its name, op, place in the run and inputs (shape, role and layout when known). */
export type RefNode = Pick<ActInfo, 'name' | 'type' | 'index' | 'producedFrom' | 'dtype'> & Partial<Pick<ActInfo, 'shape' | 'role' | 'layout'>>;
/** What diagnose() reads of a candidate activation. */
export type CandNode = RefNode;

export interface Diagnosis {
  /** The pairs with `upstream`, `unsure`, `ownDiscounted` (and `unpairedBefore` on the first divergence and root cause) set. */
  pairs: PairResult[];
  firstDivergence?: number;
  rootCause?: number;
  shapesPart?: ShapesPart;
}

/**
 * Whether an unpaired reference activation met on the way from `pairRef` to its upstream pairs
 * is a computation the candidate may lack: a float value of a layer-like op (not a constant, an
 * input or data movement) outside `pairRef`'s own scope (conv1/Conv2D and conv1/BiasAdd are
 * inside the layer a Keras conv1 pairs with at conv1/Relu).
 */
function computesUnpaired(a: RefNode, pairRef: string): boolean {
  if (!isPairable(a, 'reference') || isMovement(a.type)) return false;
  const scope = (n: string) => n.slice(0, Math.max(0, n.lastIndexOf('/')));
  return !scope(a.name) || scope(a.name) !== scope(pairRef);
}

/** Padding moves data too: re-running a ZeroPadding2D before a conv is still the conv's own error. */
const PADDING = /^(Pad|PadV2|MirrorPad|ZeroPadding[123]D)$/;

/** The kind of layer a node is: its runner's role, else its op's (a softmax is an activation). */
function kindOf(n: RefNode | undefined): string | undefined {
  if (!n) return undefined;
  return n.role ?? opRole(n.type) ?? (/^(Log)?Softmax$/.test(n.type) ? 'activation' : undefined);
}

/** Whether the alignment's pair is one it is sure of: a map, a name, strong values or an output; a shape-only pair whose layers are of different kinds is not (data movement standing for a computation is kept: a port that replaced an activation by an Identity is wrong there). */
function unsureWhy(p: PairResult, r: RefNode | undefined, c: CandNode | undefined, rightKindThere: boolean): string | undefined {
  if (p.strategy === 'numeric' && p.confidence < STRONG_SIMILARITY) return `its values match at ${p.confidence.toFixed(2)} only`;
  if (p.strategy !== 'shape') return undefined;
  const kr = kindOf(r);
  const kc = kindOf(c);
  if (kr && kc && kr !== kc && rightKindThere) return `paired by shape alone (confidence ${p.confidence.toFixed(2)}), and the reference's ${p.referenceOp} (${kr}) is not the same kind of layer as the candidate's ${p.candidateType} (${kc})`;
  return undefined;
}

/**
 * `pairs` in reference order, indexed densely (pair i has index i), with their own errors;
 * `refNodes` the reference's activations in the order it ran them; `candNodes` the
 * candidate's (without them, nothing is said of own errors' wiring, hesitations or shapes).
 */
export function diagnose(pairs: readonly PairResult[], refNodes: readonly RefNode[], candNodes: readonly CandNode[] = []): Diagnosis {
  const out = pairs.map((p) => ({ ...p }));
  const refActByName = new Map(refNodes.map((a) => [norm(a.name), a]));
  const candByName = new Map(candNodes.map((a) => [norm(a.name), a]));
  const pairOfRef = new Map(out.map((p) => [norm(p.reference), p.index]));
  const pairOfCand = new Map(out.map((p) => [norm(p.candidate), p.index]));
  // Upstream pairs through the reference graph.
  for (const p of out) p.upstream = walkUp(refActByName.get(norm(p.reference))?.producedFrom ?? [], refActByName, pairOfRef, () => false).up;
  // The pairs the alignment is unsure of, and what it hesitated between.
  for (const p of out) {
    delete p.unsure;
    delete p.ownDiscounted;
    delete p.hesitatedWith;
    const r = refActByName.get(norm(p.reference));
    const alts = p.strategy === 'shape' || p.strategy === 'numeric' ? hesitation(p, out, candNodes, candByName) : [];
    // Layers of different kinds are a false pair only when one of the right kind, of its size,
    // reads the chosen one and is free or surely paired elsewhere (a Softmax paired with the
    // Gemm before the candidate's Softmax); with none (a port that left a fused activation out)
    // the pair is where the fault is.
    const rightKindThere = alts.slice(1).some((n) => {
      const x = candByName.get(norm(n));
      if (!x || kindOf(x) !== kindOf(r) || !reads(x, p.candidate, candByName)) return false;
      // Past a slip by one (a conv paired with the Conv before its ReLU, that ReLU with the next
      // batch norm, all by shape, all failing) the pair's layer is still where it goes wrong.
      const xi = pairOfCand.get(norm(n));
      const xp = xi !== undefined ? out[xi] : undefined;
      return !xp || xp.pass || xp.strategy !== 'shape';
    });
    let why = unsureWhy(p, r, candByName.get(norm(p.candidate)), rightKindThere);
    // A failing pair by a name in its TF scope, with an unpaired candidate layer of its size and
    // kind before it: the names may be one off (Keras renames dense to dense_1 on export).
    if (!why && !p.pass && p.strategy === 'name' && p.confidence < 1) {
      const off = hesitation(p, out, candNodes, candByName).slice(1).filter((n) => !pairOfCand.has(norm(n)) && (candByName.get(norm(n))?.index ?? Infinity) < (candByName.get(norm(p.candidate))?.index ?? -1) && kindOf(candByName.get(norm(n))) === kindOf(r));
      if (off.length) {
        why = `paired by a name in its scope (confidence ${p.confidence.toFixed(2)}), and the candidate's unpaired ${off.map((n) => `'${n}'`).join(', ')} before it ${off.length === 1 ? 'has' : 'have'} its size and kind: the names may be one layer off`;
        p.unsure = { reason: why, candidates: [p.candidate, ...off] };
        continue;
      }
    }
    if (why) p.unsure = { reason: why, candidates: alts };
    else if (alts.length > 1 && !p.pass) p.hesitatedWith = alts.slice(1);
  }
  // A shape-only pair at the root of the story is stated with its hesitations even when sure enough to be used.
  const sure = (p: PairResult) => !p.unsure;
  // Own errors that say something of the layer alone.
  for (const p of out) {
    if (!p.own) continue;
    const why = p.unsure ? `the alignment is unsure of the pair: ${p.unsure.reason}` : ownDiscount(p, refActByName, candByName, pairOfCand, pairOfRef);
    if (why) p.ownDiscounted = why;
  }
  // The activations between each pair and its sure upstream pairs that no sure pair holds.
  const surePairOfRef = new Map(out.filter((p) => !p.unsure).map((p) => [norm(p.reference), p.index]));
  const between = new Map<number, string[]>();
  for (const p of out) {
    const { unpaired } = walkUp(refActByName.get(norm(p.reference))?.producedFrom ?? [], refActByName, surePairOfRef, (a) => computesUnpaired(a, p.reference));
    if (unpaired.length) between.set(p.index, unpaired.sort((x, y) => (refActByName.get(norm(x))?.index ?? 0) - (refActByName.get(norm(y))?.index ?? 0)));
  }
  // Sure upstream pairs: an unsure pair's place is taken by its own sure upstream pairs.
  const sureUp = (i: number, seen = new Set<number>()): number[] => {
    const res: number[] = [];
    for (const u of out[i]!.upstream) {
      if (seen.has(u)) continue;
      seen.add(u);
      if (sure(out[u]!)) res.push(u);
      else res.push(...sureUp(u, seen));
    }
    return res;
  };
  const firstDivergence = out.find((p) => !p.pass && sure(p) && sureUp(p.index).every((u) => out[u]!.pass))?.index;
  const ownFails = (p: PairResult) => !!p.own && !p.own.pass && !p.ownDiscounted;
  const withOwn = out.filter((p) => p.own && !p.ownDiscounted && sure(p));
  let rootCause = withOwn.length ? (withOwn.find((p) => ownFails(p) && !p.pass)?.index ?? firstDivergence) : firstDivergence;
  // Where the shapes part: the root cause when no sure pair fails before it.
  const refIndexOf = (p: PairResult) => refActByName.get(norm(p.reference))?.index ?? Infinity;
  const anyTrouble = out.some((p) => !p.pass);
  const parting = anyTrouble || out.length === 0 ? shapesPartAt(refNodes, candNodes, out, refActByName, candByName, pairOfRef, pairOfCand) : undefined;
  let shapesPart: ShapesPart | undefined;
  if (parting) {
    const at = refActByName.get(norm(parting.reference))!.index;
    const earlier = out.some((p) => !p.pass && sure(p) && refIndexOf(p) < at);
    shapesPart = { ...parting, isRootCause: !earlier };
    if (!earlier) rootCause = undefined;
  }
  // What the reference computes between the root cause's inputs and it that nothing pairs with
  // (a ReLU the conversion left out): its own error was measured without them.
  for (const i of new Set([rootCause, firstDivergence])) {
    const b = i !== undefined ? between.get(i) : undefined;
    // Past where the shapes part, what pairs with nothing is computed at other shapes, not lacking.
    if (!b || out[i!]!.pass || (shapesPart && b.includes(shapesPart.reference))) continue;
    // Those the candidate computes too, at another shape (a pad of 1 on every side where TF pads
    // bottom and right only): not lacking, computed differently.
    const p = out[i!]!;
    const candBetween = walkUp(candByName.get(norm(p.candidate))?.producedFrom ?? [], candByName, pairOfCand, (a) => isPairable(a, 'candidate')).unpaired.map((n) => candByName.get(norm(n))!);
    const differs: NonNullable<PairResult['differsBefore']> = [];
    const lacking = b.filter((n) => {
      const r = refActByName.get(norm(n));
      const c = r?.shape && candBetween.find((x) => x.shape && !differs.some((d) => d.candidate === x.name) && sameKind(r, x) && !fits(r.shape!, x.shape));
      if (!r || !c) return true;
      differs.push({ reference: r.name, referenceOp: r.type, referenceShape: [...r.shape!], candidate: c.name, candidateType: c.type, candidateShape: [...c.shape!] });
      return false;
    });
    if (lacking.length) p.unpairedBefore = lacking.slice(0, 8);
    if (differs.length) p.differsBefore = differs;
  }
  return {
    pairs: out,
    ...(firstDivergence !== undefined ? { firstDivergence } : {}),
    ...(rootCause !== undefined ? { rootCause } : {}),
    ...(shapesPart ? { shapesPart } : {}),
  };
}

/** Layers of one kind on both sides: both paddings, or the same role (kindOf). */
function sameKind(r: RefNode, c: CandNode): boolean {
  if (PADDING.test(r.type) || PADDING.test(c.type)) return PADDING.test(r.type) && PADDING.test(c.type);
  const k = kindOf(r);
  return k !== undefined && k === kindOf(c);
}

/** Whether candidate `x` reads `from`, directly or through data movement. */
function reads(x: CandNode, from: string, candByName: Map<string, CandNode>): boolean {
  const stack = x.producedFrom.map(norm);
  for (let k = 0; stack.length && k < 16; k++) {
    const n = stack.pop()!;
    if (n === norm(from)) return true;
    const a = candByName.get(n);
    if (a && isMovement(a.type)) stack.push(...a.producedFrom.map(norm));
  }
  return false;
}

/** The nearest pairs up the graph from `from` (their indices, sorted), and the unpaired nodes on the way that `note` keeps. */
function walkUp(from: readonly string[], byName: Map<string, RefNode>, pairOf: Map<string, number>, note: (a: RefNode) => boolean): { up: number[]; unpaired: string[] } {
  const seen = new Set<string>();
  const up = new Set<number>();
  const unpaired: string[] = [];
  const stack = from.map(norm);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const pi = pairOf.get(n);
    if (pi !== undefined) {
      up.add(pi);
      continue;
    }
    const a = byName.get(n);
    if (a && note(a)) unpaired.push(a.name);
    for (const q of a?.producedFrom ?? []) stack.push(norm(q));
  }
  return { up: [...up].sort((a, b) => a - b), unpaired };
}

/**
 * Why a computed own error says nothing of the candidate layer alone: the two layers are of
 * different kinds, or re-running it "alone" re-ran unpaired candidate computations before it
 * (a chain of layers, not one).
 */
function ownDiscount(p: PairResult, refByName: Map<string, RefNode>, candByName: Map<string, CandNode>, pairOfCand: Map<string, number>, pairOfRef: Map<string, number>): string | undefined {
  const r = refByName.get(norm(p.reference));
  const c = candByName.get(norm(p.candidate));
  if (!c || !r) return undefined;
  const computes = (a: RefNode, side: 'reference' | 'candidate') => isPairable(a, side) && !isMovement(a.type) && !PADDING.test(a.type);
  const crossed = walkUp(c.producedFrom, candByName, pairOfCand, (a) => computes(a, 'candidate')).unpaired.map((n) => candByName.get(norm(n))!).filter(Boolean);
  if (!crossed.length) return undefined;
  // The same computations on the reference's side: what it crosses unpaired, and what a fused op
  // holds (TF's conv+bias+ReLU is one node where a port has a Conv and a Relu).
  const refCrossed = walkUp(r.producedFrom, refByName, pairOfRef, (a) => computes(a, 'reference')).unpaired.map((n) => refByName.get(norm(n))!).filter(Boolean);
  const room = refCrossed.length + (/^_Fused/.test(r.type) ? 2 : 0);
  const shapes = [r, ...refCrossed].map((a) => a.shape).filter((x): x is number[] => !!x);
  const odd = crossed.filter((a) => a.shape && !shapes.some((sh) => fits(sh, a.shape!)));
  if (crossed.length <= room && !odd.length) return undefined;
  const list = crossed.slice(0, 4).map((a) => a.name).join(', ') + (crossed.length > 4 ? ', ...' : '');
  return `re-running it on the reference's inputs re-ran unpaired candidate layers before it too (${list})${odd.length ? ' at shapes the reference does not have there' : ''}: a chain, not the layer alone`;
}

/**
 * The candidate layers an unsure pair's reference could as well have paired with: those of its
 * element count between the candidates of the nearest sure pairs before and after it, the
 * chosen one first (at most 4).
 */
function hesitation(p: PairResult, pairs: readonly PairResult[], candNodes: readonly CandNode[], candByName: Map<string, CandNode>): string[] {
  const pos = (name: string) => candByName.get(norm(name))?.index;
  const sureNeighbour = (q: PairResult) => q.strategy !== 'shape' && !(q.strategy === 'numeric' && q.confidence < STRONG_SIMILARITY);
  let lo = -Infinity;
  let hi = Infinity;
  for (const q of pairs) {
    if (q.index === p.index || !sureNeighbour(q)) continue;
    const ci = pos(q.candidate);
    if (ci === undefined) continue;
    if (q.index < p.index) lo = Math.max(lo, ci);
    else hi = Math.min(hi, ci);
  }
  const n = numElements(p.referenceShape);
  const others = candNodes
    .filter((c) => c.index > lo && c.index <= hi && isPairable(c, 'candidate') && norm(c.name) !== norm(p.candidate) && c.shape && numElements(c.shape) === n && !isMovement(c.type))
    .map((c) => c.name);
  return [p.candidate, ...others].slice(0, 4);
}

/** Whether a candidate activation of shape `c` can be read as a reference one of shape `r` (the same, a layout permutation, or a reshape across ranks). */
function fits(r: readonly number[], c: readonly number[]): boolean {
  if (numElements(r) !== numElements(c)) return false;
  if (r.length !== c.length) return true;
  return sameShape(r, c) || (PERMS[r.length] ?? []).some((perm) => sameShape(transposeShape(c, perm), r));
}

/**
 * The first reference layer whose output shape no candidate activation has, nor that of any
 * layer reading it (a Pad the port folds into its conv's padding is not a parting: the conv
 * after it meets again), and the candidate's layer in its place: the first unpaired computing
 * layer of the same kind past the candidates of its nearest pairs, reading from them.
 */
function shapesPartAt(
  refNodes: readonly RefNode[],
  candNodes: readonly CandNode[],
  pairs: readonly PairResult[],
  refByName: Map<string, RefNode>,
  candByName: Map<string, CandNode>,
  pairOfRef: Map<string, number>,
  pairOfCand: Map<string, number>,
): Omit<ShapesPart, 'isRootCause'> | undefined {
  if (!candNodes.length) return undefined;
  const candShapes = candNodes.filter((c) => isPairable(c, 'candidate') && c.shape).map((c) => c.shape!);
  const counterpart = (r: RefNode) => pairOfRef.has(norm(r.name)) || candShapes.some((s) => fits(r.shape!, s));
  const computes = (r: RefNode) => isPairable(r, 'reference') && !isMovement(r.type) && !!r.shape;
  // Readers through data movement.
  const readers = new Map<string, RefNode[]>();
  for (const a of refNodes) for (const q of a.producedFrom) readers.set(norm(q), [...(readers.get(norm(q)) ?? []), a]);
  const computingReaders = (r: RefNode, depth = 0): RefNode[] =>
    (readers.get(norm(r.name)) ?? []).flatMap((x) => (computes(x) ? [x] : depth < 4 && isPairable(x, 'reference') ? computingReaders(x, depth + 1) : []));
  const r = refNodes.find((a) => computes(a) && !counterpart(a) && computingReaders(a).every((x) => !counterpart(x)));
  if (!r) return undefined;
  // The candidate's layer in its place.
  const { up } = walkUp(r.producedFrom, refByName, pairOfRef, () => false);
  const from = new Set(up.map((u) => norm(pairs[u]!.candidate)));
  const after = Math.max(-1, ...[...from].map((n) => candByName.get(n)?.index ?? -1));
  const descends = (c: CandNode): boolean => {
    if (!from.size) return true;
    const seen = new Set<string>();
    const stack = c.producedFrom.map(norm);
    while (stack.length) {
      const n = stack.pop()!;
      if (from.has(n)) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...(candByName.get(n)?.producedFrom ?? []).map(norm));
    }
    return false;
  };
  const kr = kindOf(r);
  const place = candNodes.filter((c) => c.index > after && isPairable(c, 'candidate') && !isMovement(c.type) && !PADDING.test(c.type) && !pairOfCand.has(norm(c.name)) && c.shape && descends(c));
  const c = place.find((x) => kindOf(x) === kr && x.shape!.length === r.shape!.length) ?? place.find((x) => kindOf(x) === kr) ?? place[0];
  const short = (n: string) => n;
  const text = c?.shape
    ? `shapes part here: reference \`${short(r.name)}\` (${r.type}) gives [${r.shape}], the candidate's \`${c.name}\` (${c.type}) gives [${c.shape}]${layoutWords(r, c)}`
    : `shapes part here: reference \`${r.name}\` (${r.type}) gives [${r.shape}], and no candidate activation has that shape`;
  return {
    reference: r.name,
    referenceOp: r.type,
    referenceShape: [...r.shape!],
    ...(c ? { candidate: c.name, candidateType: c.type, candidateShape: [...c.shape!] } : {}),
    text,
  };
}

/** The two shapes read in one layout, in words: which axes differ (NCHW [1,96,48,48] vs NHWC [1,47,47,96]: H and W). */
function layoutWords(r: RefNode, c: CandNode): string {
  const rs = r.shape!;
  const cs = c.shape!;
  if (rs.length !== 4 || cs.length !== 4) return '';
  const refNC = r.layout?.startsWith('NC') ?? false;
  const candNC = c.layout ? c.layout.startsWith('NC') : cs[1] === rs[3] && cs[3] !== rs[3];
  // Both in the reference's NHWC names: N, H, W, C.
  const asNHWC = (s: readonly number[], nc: boolean) => (nc ? [s[0]!, s[2]!, s[3]!, s[1]!] : [...s]);
  const a = asNHWC(rs, refNC);
  const b = asNHWC(cs, candNC);
  const names = ['N', 'H', 'W', 'C'];
  const diff = names.filter((_, i) => a[i] !== b[i]);
  if (!diff.length) return '';
  const layout = (nc: boolean) => (nc ? 'NCHW' : 'NHWC');
  const list = diff.length === 1 ? diff[0]! : `${diff.slice(0, -1).join(', ')} and ${diff[diff.length - 1]}`;
  return ` (reference ${layout(refNC)}, candidate ${layout(candNC)}: ${list} differ, ${diff.map((d) => `${d} ${a[names.indexOf(d)]} vs ${b[names.indexOf(d)]}`).join(', ')})`;
}

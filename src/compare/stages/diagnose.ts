import { stripPort as norm } from '../../core/names.js';
import type { ActInfo } from '../align/index.js';
import { isMovement, isPairable } from '../align/index.js';
import type { PairResult } from '../result.js';

/**
 * Stage 6, diagnose (pure): where the candidate goes wrong. Each pair's upstream pairs (the
 * nearest compared ancestors through the reference graph), the first divergence (a failing pair
 * whose upstream pairs all pass), the root cause (the first failing pair whose own error fails
 * too, else the first divergence) and what the reference computes before them that nothing
 * pairs with (what the conversion may lack). Plain data in, plain data out.
 */

/** What diagnose() reads of a reference activation: its name, op, place in the run and inputs. */
export type RefNode = Pick<ActInfo, 'name' | 'type' | 'index' | 'producedFrom' | 'dtype'>;

export interface Diagnosis {
  /** The pairs with `upstream` (and `unpairedBefore` on the first divergence and root cause) set. */
  pairs: PairResult[];
  firstDivergence?: number;
  rootCause?: number;
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

/**
 * `pairs` in reference order, indexed densely (pair i has index i), with their own errors;
 * `refNodes` the reference's activations in the order it ran them.
 */
export function diagnose(pairs: readonly PairResult[], refNodes: readonly RefNode[]): Diagnosis {
  const out = pairs.map((p) => ({ ...p }));
  const refActByName = new Map(refNodes.map((a) => [norm(a.name), a]));
  const pairOfRef = new Map(out.map((p) => [norm(p.reference), p.index]));
  // Upstream pairs through the reference graph, and the unpaired activations on the way to them.
  const between = new Map<number, string[]>();
  for (const p of out) {
    const seen = new Set<string>();
    const up = new Set<number>();
    const unpaired: string[] = [];
    const stack = [...(refActByName.get(norm(p.reference))?.producedFrom ?? [])].map(norm);
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      const pi = pairOfRef.get(n);
      if (pi !== undefined) {
        up.add(pi);
        continue;
      }
      const a = refActByName.get(n);
      if (a && computesUnpaired(a, p.reference)) unpaired.push(a.name);
      for (const q of a?.producedFrom ?? []) stack.push(norm(q));
    }
    p.upstream = [...up].sort((a, b) => a - b);
    if (unpaired.length) between.set(p.index, unpaired.sort((x, y) => (refActByName.get(norm(x))?.index ?? 0) - (refActByName.get(norm(y))?.index ?? 0)));
  }
  const firstDivergence = out.find((p) => !p.pass && p.upstream.every((u) => out[u]!.pass))?.index;
  const withOwn = out.filter((p) => p.own);
  const rootCause = withOwn.length ? (withOwn.find((p) => !p.own!.pass && !p.pass)?.index ?? firstDivergence) : firstDivergence;
  // What the reference computes between the root cause's inputs and it that nothing pairs with
  // (a ReLU the conversion left out): its own error was measured without it.
  for (const i of new Set([rootCause, firstDivergence])) {
    const b = i !== undefined ? between.get(i) : undefined;
    if (b && !out[i!]!.pass) out[i!]!.unpairedBefore = b.slice(0, 8);
  }
  return { pairs: out, ...(firstDivergence !== undefined ? { firstDivergence } : {}), ...(rootCause !== undefined ? { rootCause } : {}) };
}

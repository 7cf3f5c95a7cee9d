import { stripPort as norm } from '../../core/names.js';
import { numElements } from '../../core/tensor.js';
import { PERMS, isMovement, sameShape, transposeShape } from '../align/index.js';
import type { OutputAccount, PairResult } from '../result.js';
import type { RefNode } from './diagnose.js';

/**
 * Every model output of either side accounted for (pure): each is in a pair, or why not, in
 * words (its shape fits none of the other side's outputs; it fits one that is paired with
 * another; names do not tell it from another of its shape; its dtype is not compared). An
 * unpaired output makes the comparison NOT EQUIVALENT (decide.ts), except a reference output
 * computed from a paired output into a single number (the loss of a training graph: beyond what
 * a conversion outputs) and outputs of a dtype that is not compared on either side.
 */

export interface OutputsIn {
  /** Output names in the order each model lists them. */
  referenceOutputs: readonly string[];
  candidateOutputs: readonly string[];
  refNodes: readonly RefNode[];
  candNodes: readonly RefNode[];
  pairs: readonly PairResult[];
}

const shapeFits = (a: readonly number[], b: readonly number[]) =>
  numElements(a) === numElements(b) && (a.length !== b.length || sameShape(a, b) || (PERMS[a.length] ?? []).some((p) => sameShape(transposeShape(b, p), a)));

export function accountOutputs(x: OutputsIn): OutputAccount[] {
  const refBy = new Map(x.refNodes.map((a) => [norm(a.name), a]));
  const candBy = new Map(x.candNodes.map((a) => [norm(a.name), a]));
  const pairOfRef = new Map(x.pairs.map((p) => [norm(p.reference), p]));
  const pairOfCand = new Map(x.pairs.map((p) => [norm(p.candidate), p]));
  const sides = [
    { side: 'reference' as const, names: x.referenceOutputs, by: refBy, pairOf: pairOfRef, partnerOf: (p: PairResult) => p.candidate },
    { side: 'candidate' as const, names: x.candidateOutputs, by: candBy, pairOf: pairOfCand, partnerOf: (p: PairResult) => p.reference },
  ];
  const out: OutputAccount[] = [];
  for (const [k, s] of sides.entries()) {
    const other = sides[1 - k]!;
    const otherFacts = other.names.map((n) => ({ name: n, node: other.by.get(norm(n)), pair: other.pairOf.get(norm(n)) ?? throughMovement(other.by.get(norm(n)), other.by, other.pairOf) }));
    s.names.forEach((name, i) => {
      const node = s.by.get(norm(name));
      const pair = s.pairOf.get(norm(name)) ?? throughMovement(node, s.by, s.pairOf);
      const base = { side: s.side, name, shape: node?.shape ? [...node.shape] : [], dtype: node?.dtype ?? 'unknown' };
      if (pair) return out.push({ ...base, pair: pair.index });
      if (!node) return out.push({ ...base, unpaired: 'the run did not produce it' });
      if (node.dtype !== 'float32') {
        const floatThere = otherFacts.some((o) => o.node?.dtype === 'float32' && !o.pair && o.node.shape && node.shape && numElements(o.node.shape) === numElements(node.shape));
        return out.push({ ...base, unpaired: `its dtype is ${node.dtype}: only float32 values are compared${floatThere ? `, and the ${other.side} has an unpaired float32 output of its size` : ''}`, excused: !floatThere });
      }
      // A loss: a reference output of one number computed from a paired output.
      if (s.side === 'reference' && node.shape && numElements(node.shape) <= 1) {
        const from = pairedOutputAbove(node, refBy, pairOfRef);
        if (from) return out.push({ ...base, unpaired: `it is one number computed from the paired output '${from}' (a loss or metric the reference computes past what the candidate outputs)`, excused: true });
      }
      out.push({ ...base, unpaired: whyUnpaired(node, i, other.side, otherFacts, s.side) });
      return undefined;
    });
  }
  return out;
}

/**
 * The pair an output holds the values of through data movement (a tfjs signature's `Identity`
 * of the paired softmax, a final Reshape): the same values, compared there.
 */
function throughMovement(node: RefNode | undefined, by: Map<string, RefNode>, pairOf: Map<string, PairResult>): PairResult | undefined {
  for (let n = node, depth = 0; n && isMovement(n.type) && depth < 8; depth++) {
    const ins = n.producedFrom.map(norm).filter((q) => by.get(q)?.dtype === 'float32');
    if (ins.length !== 1) return undefined;
    const p = pairOf.get(ins[0]!);
    if (p) return p;
    n = by.get(ins[0]!);
  }
  return undefined;
}

/** A paired model output among `node`'s ancestors (through any depth), by name. */
function pairedOutputAbove(node: RefNode, by: Map<string, RefNode>, pairOf: Map<string, PairResult>): string | undefined {
  const seen = new Set<string>();
  const stack = node.producedFrom.map(norm);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const p = pairOf.get(n);
    if (p?.isOutput) return p.reference;
    stack.push(...(by.get(n)?.producedFrom ?? []).map(norm));
  }
  return undefined;
}

function whyUnpaired(node: RefNode, i: number, otherSide: string, others: { name: string; node?: RefNode; pair?: PairResult }[], side: string): string {
  const shape = `[${node.shape ?? []}]`;
  const list = others.map((o) => `'${o.name}' [${o.node?.shape ?? '?'}]`).join(', ');
  const fitting = others.filter((o) => o.node?.shape && node.shape && shapeFits(node.shape, o.node.shape));
  const atPos = others[i];
  const order = atPos ? ` (in the order the models list their outputs it would meet the ${otherSide}'s '${atPos.name}' [${atPos.node?.shape ?? '?'}]${atPos.node?.shape && node.shape && !shapeFits(node.shape, atPos.node.shape) ? ', of another shape' : ''})` : '';
  if (!others.length) return `the ${otherSide} has no output`;
  if (!fitting.length) return `no ${otherSide} output has its shape ${shape} (${otherSide} outputs: ${list})${order}`;
  const free = fitting.filter((o) => !o.pair);
  if (!free.length) {
    return `its shape ${shape} fits the ${otherSide}'s output${fitting.length > 1 ? 's' : ''} ${fitting.map((o) => `'${o.name}' (paired with the ${side}'s '${side === 'reference' ? o.pair!.reference : o.pair!.candidate}')`).join(', ')}, and no other${order}`;
  }
  return `its shape ${shape} fits the ${otherSide}'s unpaired output${free.length > 1 ? 's' : ''} ${free.map((o) => `'${o.name}'`).join(', ')}, but neither names nor values tie ${free.length > 1 ? 'one of them' : 'it'} to it${order}`;
}

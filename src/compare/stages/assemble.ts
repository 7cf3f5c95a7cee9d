import { stripPort as norm } from '../../core/names.js';
import type { Alignment } from '../align/index.js';
import type { Check } from '../metrics.js';
import { checkToString } from '../metrics.js';
import type { GraphNodeFacts, ModelFacts, PairResult, Tolerance } from '../result.js';
import type { RefNode } from './diagnose.js';

/** The Result's facts that are neither measured nor decided: the graph view and the warnings. */

/** The reference graph with each node's pair and status. */
export function graphFacts(graph: readonly { name: string; op: string; inputs: string[] }[] | undefined, refNodes: readonly RefNode[], pairs: readonly PairResult[], alignment: Alignment): GraphNodeFacts[] {
  const pairOfRef = new Map(pairs.map((p) => [norm(p.reference), p.index]));
  return (graph ?? refNodes.map((a) => ({ name: a.name, op: a.type, inputs: a.producedFrom }))).map((n) => {
    const pi = pairOfRef.get(norm(n.name));
    const unmatched = alignment.unmatched.reference.includes(n.name);
    return {
      name: n.name,
      op: n.op,
      inputs: n.inputs,
      ...(pi !== undefined ? { pair: pi } : {}),
      status: pi !== undefined ? (pairs[pi]!.pass ? 'pass' : 'fail') : unmatched ? 'unmatched' : 'not-compared',
    };
  });
}

/**
 * A per-tensor tolerance or check whose name no pair has (a typo, a name from another
 * conversion) applied to nothing: the user is told, or they would read its absence as a pass.
 */
export function unappliedWarnings(pairs: readonly PairResult[], perTensor: Record<string, Tolerance> | undefined, checks: readonly Check[] | undefined): string[] {
  const pairNames = new Set(pairs.flatMap((p) => [norm(p.reference), norm(p.candidate)]));
  return [
    ...Object.keys(perTensor ?? {}).filter((n) => !pairNames.has(norm(n))).map((n) => `the per-tensor tolerance for '${n}' applied to nothing: no compared pair has that reference or candidate name`),
    ...[...new Set((checks ?? []).filter((c) => c.tensor && !pairNames.has(norm(c.tensor))).map(checkToString))].map((c) => `the check '${c}' applied to nothing: no compared pair has that reference or candidate name`),
  ];
}

/** A model's facts with its runner's warnings, when it has any. */
export function withWarnings(facts: ModelFacts, warnings: readonly string[] | undefined): ModelFacts {
  return warnings?.length ? { ...facts, warnings: [...warnings] } : facts;
}

import { tf } from '../../backend/tf.js';
import { backendInfo } from '../../backend/index.js';
import { stripPort as norm } from '../../core/names.js';
import type { Runner } from '../../core/runner.js';
import { VERSION } from '../../version.js';
import type { Alignment } from '../align/index.js';
import type { Check } from '../metrics.js';
import { checkToString } from '../metrics.js';
import type { CompareOptions } from '../options.js';
import type { GraphNodeFacts, InputFacts, ModelFacts, OutputAccount, PairResult, Result, ShapesPart, Tolerance } from '../result.js';
import { RESULT_SCHEMA_VERSION } from '../result.js';
import type { Decision } from './decide.js';
import type { RefNode } from './diagnose.js';

/**
 * The last stage: the Result, from what the stages found, with the facts that are neither
 * measured nor decided (the run's settings, the graph view, warnings).
 */
export function assembleResult(x: {
  reference: Runner;
  candidate: Runner;
  opts: CompareOptions;
  iterations: number;
  started: Date;
  timings: Result['run']['timings'];
  inputFacts: InputFacts[];
  /** Feeds run in another shape than declared. */
  feedWarnings: string[];
  refNodes: readonly RefNode[];
  alignment: Alignment;
  pairs: PairResult[];
  firstDivergence?: number;
  rootCause?: number;
  shapesPart?: ShapesPart;
  outputs: OutputAccount[];
  decision: Decision;
}): Result {
  const { opts, pairs, firstDivergence, rootCause, alignment } = x;
  const { verdict, summary, why, error } = x.decision;
  const warnings = [...x.feedWarnings, ...(alignment.warnings ?? []), ...unappliedWarnings(pairs, opts.perTensor, opts.checks)];
  return {
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: { name: 'tf-parity', version: VERSION },
    verdict,
    summary,
    why,
    reference: withWarnings(opts.referenceFacts, x.reference.warnings),
    candidate: withWarnings(opts.candidateFacts, x.candidate.warnings),
    run: {
      seed: opts.seed,
      iterations: x.iterations,
      backend: tf.getBackend(),
      fallbackKernels: [...(backendInfo()?.fallbackKernels ?? [])].sort(),
      tolerance: opts.tolerance,
      perTensor: opts.perTensor ?? {},
      checks: (opts.checks ?? []).map(checkToString),
      failOn: opts.failOn ?? 'layers',
      errorScale: opts.errorScale ?? 'tensor',
      ...(warnings.length ? { warnings } : {}),
      startedAt: x.started.toISOString(),
      timings: x.timings,
    },
    inputs: x.inputFacts,
    pairs,
    ...(firstDivergence !== undefined ? { firstDivergence } : {}),
    ...(rootCause !== undefined ? { rootCause } : {}),
    outputs: x.outputs,
    ...(x.shapesPart ? { shapesPart: x.shapesPart } : {}),
    unmatched: alignment.unmatched,
    alignment: alignment.pairs,
    graph: graphFacts(opts.graph, x.refNodes, pairs, alignment),
    ...(error ? { error } : {}),
  };
}

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

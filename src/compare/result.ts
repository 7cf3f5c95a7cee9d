import type { AlignedPair, Strategy, Transform } from './align/index.js';
import type { ErrorHistogram, ErrorScale, MetricValues, ValueStats } from './metrics.js';

/**
 * The Result of one comparison: everything a report needs. Reports are pure functions of it.
 * Versioned: the JSON Schema in schema/result.schema.json describes RESULT_SCHEMA_VERSION.
 */
export const RESULT_SCHEMA_VERSION = 1;

export type Verdict = 'equivalent' | 'not-equivalent' | 'error';

export interface ModelFacts {
  path: string;
  kind: string;
  sha256: string;
  bytes: number;
  /** What its runner does differently from the model as saved (Runner.warnings). */
  warnings?: string[];
}

export interface InputFacts {
  name: string;
  candidateName?: string;
  dtype: string;
  shape: number[];
  /** How it was made: 'uniform(-1,1)', 'file(x.npy)', ... */
  source: string;
  /** Transposition applied to feed the candidate (e.g. NHWC -> NCHW). */
  candidatePerm?: number[];
}

/** What decides the verdict (CompareOptions.failOn, stages/decide.ts). */
export type FailOn = 'outputs' | 'layers' | 'all';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface OwnError {
  /** Metrics of the candidate layer re-run alone on the reference's inputs, against the reference output. */
  metrics: MetricValues;
  pass: boolean;
}

export interface PairResult {
  /** Position in reference execution order among compared pairs. */
  index: number;
  reference: string;
  candidate: string;
  referenceOp: string;
  candidateType: string;
  strategy: Strategy;
  confidence: number;
  transform?: Transform;
  referenceShape: number[];
  candidateShape: number[];
  /** Worst over iterations. */
  metrics: MetricValues;
  tolerance: Tolerance;
  pass: boolean;
  /** Which checks failed: 'allclose', 'cosine>=0.999', 'nan', ... */
  failed: string[];
  /** The reference's node or the candidate's layer is one of its model's outputs. */
  isOutput: boolean;
  /** Nearest compared pairs upstream in the reference graph (by pair index). */
  upstream: number[];
  own?: OwnError;
  /** Why the own error could not be computed, when it was asked for. */
  ownSkipped?: string;
  /**
   * On the root cause and first divergence: reference activations between this pair and the
   * pairs feeding it that no candidate layer pairs with (conv1/Relu when the conversion left the
   * ReLU out), in execution order. Its own error was measured without them.
   */
  unpairedBefore?: string[];
  /**
   * On the root cause and first divergence: reference layers between this pair and the pairs
   * feeding it that the candidate computes too, of the same kind but at another shape (a pad of
   * 1 on every side where TF pads bottom/right only), so neither pairs: not lacking, different.
   */
  differsBefore?: { reference: string; referenceOp: string; referenceShape: number[]; candidate: string; candidateType: string; candidateShape: number[] }[];
  /**
   * Set when the alignment is unsure of this pair (found by shape alone, or by values at a low
   * similarity): it is never a first divergence or root cause, its own error is not claimed,
   * and with failOn 'all' it does not decide the verdict. Says why, and the candidate layers the
   * alignment hesitated between (the chosen one first).
   */
  unsure?: { reason: string; candidates: string[] };
  /** On a failing pair found by shape alone: the other candidate layers of its size the alignment could have chosen. */
  hesitatedWith?: string[];
  /** Why the own error, computed, says nothing of this layer alone (another computation, a chain re-run). */
  ownDiscounted?: string;
  referenceStats: ValueStats;
  candidateStats: ValueStats;
  histogram: ErrorHistogram;
  worst: { index: number[]; reference: number; candidate: number; abs: number }[];
}

/** One model output of either side: paired (its pair) or not (why, and whether the verdict counts it). */
export interface OutputAccount {
  side: 'reference' | 'candidate';
  name: string;
  shape: number[];
  dtype: string;
  /** Its pair's index, when it is in one. */
  pair?: number;
  /** Why it is in no pair, in words (shape, dtype, order). */
  unpaired?: string;
  /** An unpaired output that does not make the verdict NOT EQUIVALENT (a loss the reference computes past the paired output). */
  excused?: boolean;
}

/**
 * Where the shapes of the two models part: the first reference layer whose output shape no
 * candidate activation has (under any layout), nor its readers', and the candidate layer in its
 * place (the first computing layer past their last pair in common, of the same kind).
 */
export interface ShapesPart {
  reference: string;
  referenceOp: string;
  referenceShape: number[];
  candidate?: string;
  candidateType?: string;
  candidateShape?: number[];
  /** The root cause: no pair before it fails for sure. */
  isRootCause: boolean;
  /** In words: "shapes part here: reference `…` gives [..], the candidate's `…` gives [..] (…)". */
  text: string;
}

export interface GraphNodeFacts {
  name: string;
  op: string;
  inputs: string[];
  /** Pair index when this node was compared. */
  pair?: number;
  status: 'pass' | 'fail' | 'unmatched' | 'not-compared';
}

export interface Result {
  schemaVersion: number;
  tool: { name: 'tf-parity'; version: string };
  verdict: Verdict;
  /** One-line human summary. */
  summary: string;
  reference: ModelFacts;
  candidate: ModelFacts;
  run: {
    seed: number;
    iterations: number;
    backend: string;
    fallbackKernels: string[];
    tolerance: Tolerance;
    perTensor: Record<string, Tolerance>;
    checks: string[];
    /** What decided the verdict (CompareOptions.failOn). */
    failOn?: FailOn;
    /** What each pair's rtol multiplied: 'tensor' (max|ref|) or 'element' (each |ref|). */
    errorScale?: ErrorScale;
    /** What the options given did not do (a per-tensor tolerance whose name no pair has), and what alignment did not trust (names the values contradicted: Alignment.warnings), and why the automatic backend choice skipped wasm (BackendInfo.note). */
    warnings?: string[];
    startedAt: string;
    timings: { referenceMs: number; candidateMs: number; compareMs: number; ownErrorMs: number; totalMs: number };
  };
  inputs: InputFacts[];
  pairs: PairResult[];
  /** Pair index of the first divergence: earliest failing pair whose upstream pairs pass. */
  firstDivergence?: number;
  /**
   * Pair index of the root cause: the first failing pair whose own error also fails. Absent when
   * the shapes part before any pair fails for sure (shapesPart.isRootCause).
   */
  rootCause?: number;
  /** Why the verdict is what it is, in words, one reason a line. */
  why: string[];
  /** Every model output of either side, paired or why not. */
  outputs: OutputAccount[];
  shapesPart?: ShapesPart;
  unmatched: { reference: string[]; candidate: string[] };
  alignment: AlignedPair[];
  /** The reference graph for the graph view (nodes in execution order). */
  graph: GraphNodeFacts[];
  /** Set when verdict is 'error'. */
  error?: { message: string; code: string; file?: string; node?: string };
}

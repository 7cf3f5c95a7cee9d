import type { AlignedPair, Strategy, Transform } from './align/index.js';
import type { ErrorHistogram, MetricValues, ValueStats } from './metrics.js';

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
  referenceStats: ValueStats;
  candidateStats: ValueStats;
  histogram: ErrorHistogram;
  worst: { index: number[]; reference: number; candidate: number; abs: number }[];
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
    /** What the options given did not do (a per-tensor tolerance whose name no pair has), and what alignment did not trust (names the values contradicted: Alignment.warnings). */
    warnings?: string[];
    startedAt: string;
    timings: { referenceMs: number; candidateMs: number; compareMs: number; ownErrorMs: number; totalMs: number };
  };
  inputs: InputFacts[];
  pairs: PairResult[];
  /** Pair index of the first divergence: earliest failing pair whose upstream pairs pass. */
  firstDivergence?: number;
  /** Pair index of the root cause: the first failing pair whose own error also fails. */
  rootCause?: number;
  unmatched: { reference: string[]; candidate: string[] };
  alignment: AlignedPair[];
  /** The reference graph for the graph view (nodes in execution order). */
  graph: GraphNodeFacts[];
  /** Set when verdict is 'error'. */
  error?: { message: string; code: string; file?: string; node?: string };
}

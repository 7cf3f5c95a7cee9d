import type { HostTensor } from '../core/tensor.js';
import type { Alignment } from './align/index.js';
import type { MeasureEngine } from './engine.js';
import type { Check, ErrorScale } from './metrics.js';
import type { FailOn, ModelFacts, Tolerance } from './result.js';

/** What a comparison is asked to do (the programmatic API and the CLI build it). */
export interface CompareOptions {
  seed: number;
  iterations: number;
  tolerance: Tolerance;
  /** Per-tensor tolerance, keyed by reference or candidate name. */
  perTensor?: Record<string, Tolerance>;
  checks?: Check[];
  map?: Alignment;
  namesOnly?: boolean;
  nanEqual?: boolean;
  topk?: number;
  /** Re-run failing candidate layers on the reference's inputs (default true). */
  ownError?: boolean;
  /** Largest number of failing pairs whose own error is computed. */
  maxOwnError?: number;
  /**
   * What decides the verdict (stages/decide.ts). 'layers' (default): the outputs, and the own
   * error of every layer the alignment is sure of (a layer that computes something different
   * fails the comparison even where these inputs do not carry it to the outputs); 'outputs': the
   * final outputs only; 'all': every compared pair.
   */
  failOn?: FailOn;
  /** What a pair's rtol multiplies: 'tensor' (default, max|ref|) or 'element' (numpy allclose); metrics.ts ErrorScale. */
  errorScale?: ErrorScale;
  /** Feeds for iteration i (keyed by reference input name) and a description of each input's source. */
  feeds: (iteration: number, seed: number) => { feeds: Map<string, HostTensor>; sources: Record<string, string>; warnings?: string[] };
  referenceFacts: ModelFacts;
  candidateFacts: ModelFacts;
  /** Reference graph for the graph view. */
  graph?: { name: string; op: string; inputs: string[] }[];
  /** Called once per stage, for progress output. */
  onProgress?: (msg: string) => void;
  /**
   * How values are held and measured (never what is measured): by default the one the
   * environment asks for, read once at the start of the comparison (engineFromEnv);
   * PLAIN_ENGINE is the definition, fastEngine(config) the default.
   */
  engine?: MeasureEngine;
}

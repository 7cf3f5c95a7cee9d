import type { BackendName } from '../backend/index.js';
import { backendInfo, initBackend } from '../backend/index.js';
import { readAlignmentFile } from '../compare/align/index.js';
import { compareRunners } from '../compare/pipeline.js';
import { MetricsPool } from '../compare/simd/pool.js';
import { parseCheck } from '../compare/metrics.js';
import type { Result, Tolerance } from '../compare/result.js';
import { InputError } from '../core/errors.js';
import { modelFileBytes } from '../formats/files.js';
import { loadModel } from '../runners/index.js';
import type { InputOptions } from './feeds.js';
import { feedsMaker, inputOverrides } from './feeds.js';
import { hashPath } from './hash.js';

/** Options of `compare()`: the programmatic API, which the CLI and suite cases call too. */
export interface CompareOptions extends InputOptions {
  /** Seed of the generated inputs (default 0); iteration i uses seed + i. */
  seed?: number;
  /** Run this many times with seeds seed..seed+N-1 and keep the worst (default 1). */
  iterations?: number;
  /** Absolute tolerance for every tensor (default 1e-4). */
  atol?: number;
  /** Relative tolerance for every tensor (default 1e-4). */
  rtol?: number;
  /** Per-tensor tolerances: `{ 'logits': { atol: 1e-3 } }`; what is not given is the global one. */
  perTensor?: Record<string, { atol?: number; rtol?: number }>;
  /** Extra metric thresholds, e.g. `['cosine>=0.999', 'logits:max_abs<=1e-3']`. */
  checks?: string[];
  /** Alignment map file (from `parity align`, possibly hand-edited). */
  map?: string;
  /** Pair by names and the map only, no numeric alignment. */
  namesOnly?: boolean;
  /**
   * What decides the verdict: 'layers' (default: the outputs and every pair the alignment is sure
   * of), 'outputs' (the final outputs only) or 'all' (every compared pair); src/compare/stages/decide.ts.
   */
  failOn?: 'layers' | 'outputs' | 'all';
  /** What rtol multiplies: 'tensor' (default, the tensor's max|ref|) or 'element' (each |ref|, numpy allclose). */
  errorScale?: 'tensor' | 'element';
  /** Re-run failing candidate layers on the reference's inputs to find their own error (default true). */
  ownError?: boolean;
  /** A NaN in both at the same place counts as equal (default true). */
  nanEqual?: boolean;
  /** Also compute top-K agreement on the outputs. */
  topk?: number;
  /** Backend of the reference interpreter (default 'auto': tensorflow when @tensorflow/tfjs-node loads, else wasm). */
  backend?: BackendName | 'auto';
  /** SavedModel signature (default serving_default). */
  signature?: string;
  /** Compare the original only up to these tensors (its other outputs are not computed). */
  outputs?: string[];
  /** Record every loop iteration ('all', default) or only the last one. */
  loopActivations?: 'all' | 'last';
  /** Called with a line of progress once per stage. */
  onProgress?: (message: string) => void;
}

const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'auto'];

function integer(v: number | undefined, name: string, def: number, min?: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || (min !== undefined && v < min)) throw new InputError(`${name} expects an integer${min !== undefined ? ` of at least ${min}` : ''}, got ${v}`);
  return v;
}

function tolerance(v: number | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InputError(`${name} expects a non-negative number, got ${String(v)}`);
  return v;
}

/** The global and per-tensor tolerances; a per-tensor one takes what it does not give from the global one. */
function tolerances(o: CompareOptions): { tolerance: Tolerance; perTensor: Record<string, Tolerance> } {
  const global: Tolerance = { atol: tolerance(o.atol, 'atol', 1e-4), rtol: tolerance(o.rtol, 'rtol', 1e-4) };
  const perTensor: Record<string, Tolerance> = {};
  for (const [name, t] of Object.entries(o.perTensor ?? {})) {
    perTensor[name] = { atol: tolerance(t.atol, `atol of ${name}`, global.atol), rtol: tolerance(t.rtol, `rtol of ${name}`, global.rtol) };
  }
  return { tolerance: global, perTensor };
}

/**
 * Compares an original TensorFlow model with its conversion: loads both, runs them on the same
 * seeded inputs, compares layer by layer, and hashes both models' files. Bad options or files
 * throw a ParityError (one line); a model that merely differs gives a Result, never an error.
 */
export async function compare(original: string, candidate: string, options: CompareOptions = {}): Promise<Result> {
  const o = options;
  if (o.backend !== undefined && !BACKENDS.includes(o.backend)) throw new InputError(`backend expects wasm, cpu or tensorflow, got '${String(o.backend)}'`);
  if (o.failOn !== undefined && o.failOn !== 'layers' && o.failOn !== 'outputs' && o.failOn !== 'all') throw new InputError(`failOn expects layers, outputs or all, got '${String(o.failOn)}'`);
  if (o.errorScale !== undefined && o.errorScale !== 'tensor' && o.errorScale !== 'element') throw new InputError(`errorScale expects tensor or element, got '${String(o.errorScale)}'`);
  if (o.loopActivations !== undefined && o.loopActivations !== 'all' && o.loopActivations !== 'last') throw new InputError(`loopActivations expects all or last, got '${String(o.loopActivations)}'`);
  const seed = integer(o.seed, 'seed', 0);
  const iterations = integer(o.iterations, 'iterations', 1, 1);
  const topk = o.topk === undefined ? 0 : integer(o.topk, 'topk', 0, 1);
  const { tolerance, perTensor } = tolerances(o);
  const checks = (o.checks ?? []).map(parseCheck);
  const map = o.map ? readAlignmentFile(o.map) : undefined;
  const progress = o.onProgress ?? (() => {});
  // The backend is chosen for the models' size (huge ones do not fit the wasm heap).
  await initBackend(o.backend ?? 'auto', { modelBytes: modelFileBytes(original) + modelFileBytes(candidate) });
  // The metrics thread takes tens of milliseconds to start: start it while the models load.
  MetricsPool.get();
  const loop = o.loopActivations ? { loopActivations: o.loopActivations } : {};
  progress(`loading ${original}`);
  const ref = await loadModel(original, { signature: o.signature, feeds: inputOverrides(o), ...(o.outputs?.length ? { outputs: o.outputs } : {}), ...loop });
  try {
    // The seeded inputs are drawn on the metrics thread while the candidate loads.
    const feeds = feedsMaker(o, ref.runner.inputs(), ref.graph, ref.runner.inputHints?.(), progress);
    feeds.prefetch(seed);
    progress(`loading ${candidate}`);
    const cand = await loadModel(candidate, { referenceInputs: ref.runner.inputs().map((s) => s.name), ...loop });
    try {
      // Large files are hashed (streamed) while the models run; the Result gets the digests after.
      const hashing = Promise.all([hashPath(original, ref.runner.files?.()), hashPath(candidate, cand.runner.files?.())]);
      hashing.catch(() => {});
      const result = await compareRunners(ref.runner, cand.runner, {
        seed,
        iterations,
        tolerance,
        perTensor,
        checks,
        map,
        namesOnly: o.namesOnly === true,
        nanEqual: o.nanEqual !== false,
        topk,
        ownError: o.ownError !== false,
        failOn: o.failOn ?? 'layers',
        errorScale: o.errorScale ?? 'tensor',
        feeds,
        referenceFacts: { path: original, kind: ref.kind, sha256: '', bytes: 0 },
        candidateFacts: { path: candidate, kind: cand.kind, sha256: '', bytes: 0 },
        graph: ref.graph ? ref.graph.nodes.map((n) => ({ name: n.name, op: n.op, inputs: n.inputs })) : undefined,
        onProgress: progress,
      });
      const [rh, ch] = await hashing;
      Object.assign(result.reference, rh);
      Object.assign(result.candidate, ch);
      const note = backendInfo()?.note;
      if (note) result.run.warnings = [note, ...(result.run.warnings ?? [])];
      return result;
    } finally {
      cand.runner.dispose();
    }
  } finally {
    ref.runner.dispose();
  }
}

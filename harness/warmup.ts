/**
 * What a warm worker does while it waits for its case: small comparisons end to end, so that
 * what the first comparison in a fresh process pays beyond the comparison itself is paid while
 * the case before it runs: V8 compiling and optimising the readers, the interpreter, alignment,
 * metrics and report writers; protobufjs building its decoders from the .proto schemas; the
 * first wasm kernels; onnxruntime's first session; the report templates. Measured here: a
 * case's first comparison in a fresh process took 170-330 ms, the same comparison again in that
 * process 20-50 ms.
 *
 * The models are the example CNN (cases/gen) as a frozen graph against its Keras, ONNX and tfjs
 * graph-model conversions: one per kind of candidate. The suite writes them once
 * (writeWarmupModels); each worker compares the reference with the candidates of the kinds its
 * case will use (warmupCandidates: the pool knows which case a worker it starts ahead will get),
 * or with all three when that is not known. Nothing of them reaches a case's Result (warmUp
 * clears the backend's record of cpu-fallback kernels, the one thing a comparison leaves behind
 * in the process).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cnnGraph } from '../cases/gen/cnn.js';
import { kerasCnn } from '../cases/gen/keras-cnn.js';
import { cnnOnnx } from '../cases/gen/onnx-cnn.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../src/formats/tfjs-graph-writer.js';
import type { BackendName } from '../src/backend/index.js';
import type { ModelKind } from '../src/runners/index.js';
import { detectKind } from '../src/runners/index.js';

/** The reference and the candidates, relative to the warm-up folder. */
const REFERENCE = 'cnn.pb';
const CANDIDATES = ['cnn.keras', 'cnn.onnx', 'cnn-tfjs/model.json'];
/**
 * The candidate that warms up what a model of each kind runs through: the interpreter runs graph
 * kinds and the reference; a tfjs layers model needs tfjs-layers (preloaded) but not HDF5, so the
 * graph model stands in; saved activations are read, not run.
 */
const FOR_KIND: Record<ModelKind, string> = {
  keras: 'cnn.keras',
  onnx: 'cnn.onnx',
  graph: 'cnn-tfjs/model.json',
  'tfjs-graph': 'cnn-tfjs/model.json',
  'tfjs-layers': 'cnn-tfjs/model.json',
  activations: 'cnn-tfjs/model.json',
};

/** The kinds of a case's two models; undefined when either cannot be told (a missing file). */
export function caseKinds(spec: { original: string; candidate: string }): ModelKind[] | undefined {
  try {
    return [detectKind(spec.original), detectKind(spec.candidate)];
  } catch {
    return undefined;
  }
}

/**
 * The warm-up candidates for models of `kinds` (every candidate when not given), in a fixed
 * order. The warm-up's reference is a frozen graph, so a graph model adds a candidate only when
 * no other kind does (a graph against a graph).
 */
export function warmupCandidates(kinds?: readonly ModelKind[]): string[] {
  if (!kinds) return CANDIDATES;
  const others = kinds.filter((k) => k !== 'graph');
  return CANDIDATES.filter((c) => (others.length ? others : kinds).some((k) => FOR_KIND[k] === c));
}

/** Writes the warm-up models into a new temporary folder and returns it (remove it with rmSync when done). */
export async function writeWarmupModels(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'parity-warmup-'));
  try {
    const graph = cnnGraph(undefined, 'none', REFERENCE);
    writeFileSync(join(dir, REFERENCE), encodeGraphDef(graph));
    writeFileSync(join(dir, 'cnn.keras'), await kerasCnn());
    writeFileSync(join(dir, 'cnn.onnx'), cnnOnnx());
    writeTfjsGraphModel(graph, join(dir, 'cnn-tfjs'));
    return dir;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** What warmUp uses of the modules a worker has loaded. */
export interface WarmupModules {
  compare: typeof import('../src/api/compare.js').compare;
  reports: Pick<typeof import('../src/report/index.js'), 'writeReports' | 'writeAtomic' | 'jsonReport'>;
  backendInfo: typeof import('../src/backend/index.js').backendInfo;
}

/**
 * Compares the warm-up models in `dir` (the candidates for `kinds`, one after another) and writes
 * their reports to a scratch folder, stopping between comparisons once `stop()` says the case has
 * come. Returns how many comparisons ran. A failure ends the warm-up, never the worker: the case
 * then pays what is left.
 */
export async function warmUp(dir: string, m: WarmupModules, stop: () => boolean, opts: { backend?: BackendName; kinds?: readonly ModelKind[] } = {}): Promise<number> {
  const backend = opts.backend;
  const scratch = join(dir, `run-${process.pid}`);
  let n = 0;
  try {
    mkdirSync(scratch, { recursive: true });
    for (const candidate of warmupCandidates(opts.kinds)) {
      if (stop()) break;
      const result = await m.compare(join(dir, REFERENCE), join(dir, candidate), backend ? { backend } : {});
      await m.reports.writeReports(result, { html: join(scratch, 'report.html'), junit: join(scratch, 'junit.xml') });
      m.reports.writeAtomic(join(scratch, 'result.json'), m.reports.jsonReport(result));
      n++;
    }
  } catch {
    /* an optimisation only: the case still runs, paying what the warm-up did not */
  } finally {
    m.backendInfo()?.fallbackKernels.clear();
    rmSync(scratch, { recursive: true, force: true });
  }
  return n;
}

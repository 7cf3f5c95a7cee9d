import { tf } from '../backend/tf.js';
import { backendInfo, share } from '../backend/index.js';
import { hostToTf } from '../backend/convert.js';
import { InputError, ParityError } from '../core/errors.js';
import type { Activation, Runner } from '../core/runner.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';
import { VERSION } from '../version.js';
import type { ActInfo, AlignedPair, Alignment, Strategy, Transform } from './align.js';
import { EarlyPairs, align, candidateTransforms, chooseTransform, isMovement, isPairable, pairKey } from './align.js';
import { wasmHeapView } from './device.js';
import type { Side } from './speculate.js';
import { Speculator } from './speculate.js';
import { releaseOwnMemory } from './kernel/kernel.js';
import { MetricsPool } from './kernel/pool.js';
import type { Check, ErrorHistogram, MetricValues, ValueStats } from './metrics.js';
import { checkPasses, checkToString, errorHistogram, worstElements } from './metrics.js';
import type { Held } from './store.js';
import type { Where } from './store.js';
import { ActivationStore, envAmount, hasValues, measure, measureLater, valuesTensor, withHeapViews } from './store.js';
import type { GraphNodeFacts, InputFacts, ModelFacts, PairResult, Result, Tolerance } from './result.js';
import { RESULT_SCHEMA_VERSION } from './result.js';

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
  /** 'outputs' (default): the verdict follows the final outputs; 'all': every compared pair counts. */
  failOn?: 'outputs' | 'all';
  /** Feeds for iteration i (keyed by reference input name) and a description of each input's source. */
  feeds: (iteration: number, seed: number) => { feeds: Map<string, HostTensor>; sources: Record<string, string> };
  referenceFacts: ModelFacts;
  candidateFacts: ModelFacts;
  /** Reference graph for the graph view. */
  graph?: { name: string; op: string; inputs: string[] }[];
  /** Called once per stage, for progress output. */
  onProgress?: (msg: string) => void;
}

/** How one candidate input is fed from the reference's feeds. */
export interface InputBinding {
  reference: string;
  candidate: string;
  /** Transposition from the reference feed to the candidate's layout. */
  perm?: number[];
}

function norm(n: string): string {
  return n.endsWith(':0') ? n.slice(0, -2) : n;
}

function shapeFits(spec: TensorSpec, shape: readonly number[]): boolean {
  if (spec.shape === null) return true;
  return spec.shape.length === shape.length && spec.shape.every((d, i) => d < 0 || d === shape[i]);
}

/**
 * Pairs candidate inputs with reference inputs: by name, else by position; a candidate in
 * NCHW gets the reference's NHWC feed transposed.
 */
export function bindInputs(refSpecs: TensorSpec[], candSpecs: TensorSpec[], feeds: Map<string, HostTensor>): InputBinding[] {
  const refNames = refSpecs.map((s) => norm(s.name));
  const out: InputBinding[] = [];
  const used = new Set<string>();
  const byPos = candSpecs.length === refSpecs.length;
  candSpecs.forEach((c, i) => {
    const cn = norm(c.name);
    let r = refNames.find((n) => n === cn && !used.has(n));
    if (!r) r = refNames.find((n) => (n.split('/').pop() === cn.split('/').pop() || n.replace(/[:/]/g, '_') === cn.replace(/[:/]/g, '_')) && !used.has(n));
    if (!r && byPos) r = refNames[i];
    if (!r) {
      throw new InputError(
        `candidate input '${c.name}' has no counterpart among the reference inputs (${refNames.join(', ')}); name them alike or give an alignment map`,
      );
    }
    used.add(r);
    const feed = feeds.get(r);
    if (!feed) throw new InputError(`no feed for reference input '${r}'`);
    if (shapeFits(c, feed.shape)) {
      out.push({ reference: r, candidate: c.name });
      return;
    }
    const rank = feed.shape.length;
    const perms = rank === 4 ? [[0, 3, 1, 2], [0, 2, 3, 1]] : rank === 5 ? [[0, 4, 1, 2, 3], [0, 2, 3, 4, 1]] : rank === 3 ? [[0, 2, 1]] : [];
    for (const p of perms) {
      const s = p.map((a) => feed.shape[a]!);
      if (shapeFits(c, s)) {
        out.push({ reference: r, candidate: c.name, perm: p });
        return;
      }
    }
    throw new InputError(
      `candidate input '${c.name}' expects shape [${(c.shape ?? []).map((d) => (d < 0 ? '?' : d)).join(',')}] but reference input '${r}' is fed [${feed.shape.join(',')}]` +
        ` (no transposition fits either)`,
    );
  });
  return out;
}

interface SideRun {
  acts: Held[];
  byName: Map<string, Held>;
  ms: number;
}

function actInfo(a: Activation, index: number): Held {
  return {
    name: a.name,
    type: a.type,
    shape: a.tensor.shape.slice(),
    dtype: a.tensor.dtype,
    index,
    layout: a.layout,
    producedFrom: a.producedFrom,
    ...(a.outputIndex !== undefined ? { outputIndex: a.outputIndex } : {}),
    ...(a.role ? { role: a.role } : {}),
  };
}

function addAct(side: SideRun, info: Held): void {
  side.acts.push(info);
  side.byName.set(norm(info.name), info);
}

/** How many reference activations the reference may run ahead of a candidate activation waiting for its name. */
const LOOKAHEAD = 16;

/** A pair known before alignment runs, for a candidate activation. */
interface Decision {
  ref: Held;
  strategy: Strategy;
  transform?: Transform;
  /** From an earlier iteration's alignment (else decided now, and passed to align()). */
  known: boolean;
}

interface Decider {
  /** The reference activations (names without ':0') candidate `c` may pair with before alignment. */
  wanted(c: ActInfo): string[];
  /** Once those have arrived (or the reference has ended): the pairs to measure now. */
  decide(c: ActInfo): Decision[];
  /** How many such pairs may read reference `name`. */
  partners(name: string): number;
  /** Whether an activation not measured at once must be held: with a known alignment, only if a pair reads it. */
  keeps(name: string, side: 'reference' | 'candidate'): boolean;
  /**
   * A known alignment: the reference activation a candidate waits for will come, however far
   * ahead it is (the candidate may have raced past many that pair with nothing), so a waiting
   * candidate is never left to alignment (there is none to come).
   */
  patient: boolean;
}

/**
 * Runs reference and candidate side by side (in one thread, alternating), recording every
 * activation. A candidate activation whose pair is known before alignment (map entries and
 * exact names; every pair after the first iteration) is measured as soon as both sides have
 * produced it, and both tensors are let go: for conversions that keep names, memory stays
 * near that of the bare runs and the metric kernel reads values still in cache. Everything
 * else is held in `store` for alignment.
 */
async function runBoth(
  reference: Runner,
  candidate: Runner,
  refFeeds: Map<string, tf.Tensor>,
  candFeeds: Map<string, tf.Tensor>,
  store: ActivationStore,
  makeDecider: (ref: SideRun) => Decider,
  onPair: (d: Decision, c: Held, values: { tensor?: tf.Tensor; data?: Float32Array; shape: number[] }) => Promise<void>,
  sampling = false,
  guess?: (side: Side, x: Held, t: tf.Tensor, position: number) => Promise<Held[]>,
  /** Ends both runs early once it says so (the second run, once what it is for is measured). */
  stop?: () => boolean,
): Promise<{ ref: SideRun; cand: SideRun }> {
  const ref: SideRun = { acts: [], byName: new Map(), ms: 0 };
  const cand: SideRun = { acts: [], byName: new Map(), ms: 0 };
  const decider = makeDecider(ref);
  const refIt = (reference.run(refFeeds, { record: 'all' }) as AsyncIterable<Activation>)[Symbol.asyncIterator]();
  const candIt = (candidate.run(candFeeds, { record: 'all' }) as AsyncIterable<Activation>)[Symbol.asyncIterator]();
  let refDone = false;
  let candDone = false;
  /** Candidate activations waiting for a reference activation to arrive, by that name. */
  const waiting = new Map<string, Set<Held>>();
  const pending = new Set<Held>();
  /** How many reference activations there were when each pending candidate started waiting. */
  const since = new Map<Held, number>();
  const readsLeft = new Map<string, number>();
  /** Pairs made by names (or the map) so far: while there are none, values say where the runs are in step. */
  let named = 0;
  /** Pending candidates not guessed yet (names were pairing when they came), and their positions. */
  const unguessed = new Map<Held, number>();

  const settle = async (c: Held, values: { tensor?: tf.Tensor; data?: Float32Array; shape: number[] }): Promise<boolean> => {
    const ds = decider.decide(c);
    if (!ds.length) return false;
    for (const d of ds) {
      if (!d.known) named++;
      await onPair(d, c, values);
      const rn = norm(d.ref.name);
      const left = (readsLeft.get(rn) ?? decider.partners(rn)) - 1;
      readsLeft.set(rn, left);
      // Read by every pair that can read it: let it go (own error re-runs the reference if it needs it).
      if (left <= 0) store.release(d.ref);
    }
    return true;
  };
  const missing = (c: ActInfo) => (refDone ? [] : decider.wanted(c).filter((n) => !ref.byName.has(n)));

  try {
    while ((!refDone || !candDone) && !stop?.()) {
      const pullRef = candDone || (!refDone && pending.size > 0);
      const t0 = performance.now();
      const next = pullRef ? await refIt.next() : await candIt.next();
      (pullRef ? ref : cand).ms += performance.now() - t0;
      if (next.done) {
        if (pullRef) {
          refDone = true;
          // What the pending candidates waited for will not come: decide with what there is.
          for (const c of pending) if (await settle(c, c)) store.release(c);
          pending.clear();
          waiting.clear();
        } else candDone = true;
        continue;
      }
      const a = next.value;
      let owned = false;
      try {
        const side = pullRef ? ref : cand;
        const info = actInfo(a, side.acts.length);
        addAct(side, info);
        if (a.tensor.dtype === 'int32' || a.tensor.dtype === 'bool') info.intData = (await a.tensor.data()) as Int32Array | Uint8Array;
        if (pullRef) {
          const pairable = a.tensor.dtype === 'float32' && isPairable(info, 'reference');
          // With `sampling` (alignment to come), past the hold budget only samples are kept.
          if (a.tensor.dtype === 'float32' && decider.keeps(norm(info.name), 'reference')) owned = await store.keep(info, a.tensor, sampling && pairable ? 'reference' : undefined);
          // Whatever its dtype: a candidate waiting for this name can be decided now.
          const ws = waiting.get(norm(info.name));
          // What no name pairs is matched by its values as it comes (see speculate.ts). While
          // names pair nothing, a candidate it matches waits no longer for a name: its
          // counterpart is here.
          if (guess && sampling && pairable && !ws) {
            for (const c of await guess('reference', info, a.tensor, ref.acts.length - 1)) {
              if (named > 0 || !pending.delete(c)) continue;
              for (const n of decider.wanted(c)) waiting.get(n)?.delete(c);
            }
          }
          if (ws) {
            waiting.delete(norm(info.name));
            for (const c of ws) {
              if (!pending.has(c) || missing(c).length) continue;
              pending.delete(c);
              unguessed.delete(c);
              if (await settle(c, c)) store.release(c);
            }
          }
          // A candidate waiting for a name the reference may never produce must not make the
          // whole reference run ahead and be held: past a bound it is left to alignment (which
          // pairs it all the same if the name comes later; only its early release is lost).
          for (const c of pending) {
            if (decider.patient || ref.acts.length - (since.get(c) ?? 0) <= LOOKAHEAD) break;
            pending.delete(c);
            // Its guess was put off while it waited for its name: made now, if its values are held.
            const at = unguessed.get(c);
            if (at !== undefined && guess && c.tensor && !c.tensor.isDisposed) await guess('candidate', c, c.tensor, at);
            unguessed.delete(c);
          }
          continue;
        }
        if (a.tensor.dtype !== 'float32') continue;
        {
          const miss = missing(info);
          const pairable = isPairable(info, 'candidate');
          if (!miss.length) {
            // Measured from the activation itself; held only when alignment must decide.
            if (!(await settle(info, { tensor: a.tensor, shape: info.shape })) && decider.keeps(norm(info.name), 'candidate')) {
              owned = await store.keep(info, a.tensor, sampling && pairable ? 'candidate' : undefined);
              if (guess && sampling && pairable) await guess('candidate', info, a.tensor, cand.acts.length - 1);
            }
          } else {
            owned = await store.keep(info, a.tensor, sampling && pairable ? 'candidate' : undefined);
            // Matched by its values to a reference activation already here: no name to wait for.
            // Once names pair, its name will likely come: the guess waits until it has not.
            if (guess && sampling && pairable) {
              if (named > 0 && owned) unguessed.set(info, cand.acts.length - 1);
              else if ((await guess('candidate', info, a.tensor, cand.acts.length - 1)).length && named === 0) continue;
            }
            pending.add(info);
            since.set(info, ref.acts.length);
            for (const n of miss) waiting.set(n, (waiting.get(n) ?? new Set()).add(info));
          }
        }
      } finally {
        if (!owned) a.tensor.dispose();
      }
    }
  } finally {
    // On an error, let both runners release what they hold.
    if (!refDone) await refIt.return?.();
    if (!candDone) await candIt.return?.();
  }
  return { ref, cand };
}

/**
 * Activations below this many elements are not guessed, only held (PARITY_GUESS_MIN; default
 * 4096): holding them costs little, and a small model is faster without guessing.
 */
function guessMinElements(): number {
  return envAmount('PARITY_GUESS_MIN', 4096);
}

/** What one iteration measured of one pair. */
interface Measurement {
  metrics: MetricValues;
  refStats: ValueStats;
  candStats: ValueStats;
  failed: string[];
  histogram: ErrorHistogram;
  worst: PairResult['worst'];
  /** Measured without the histogram and worst elements it should have (a guess: see speculate.ts). */
  partial?: boolean;
}

function toleranceFor(p: AlignedPair, opts: CompareOptions): Tolerance {
  const per = opts.perTensor;
  if (!per) return opts.tolerance;
  return per[norm(p.reference)] ?? per[norm(p.candidate)] ?? per[p.reference] ?? per[p.candidate] ?? opts.tolerance;
}

/** Which checks fail for these metric values. allclose (atol/rtol) always applies. */
function failedChecks(m: MetricValues, p: AlignedPair, opts: CompareOptions): string[] {
  const failed: string[] = [];
  if (m.allclose < 1) failed.push('allclose');
  if (m.nan_mismatch > 0) failed.push('nan');
  if (m.inf_mismatch > 0) failed.push('inf');
  for (const c of opts.checks ?? []) {
    if (c.tensor && norm(c.tensor) !== norm(p.reference) && norm(c.tensor) !== norm(p.candidate)) continue;
    const v = (m as unknown as Record<string, number | undefined>)[c.metric];
    if (!checkPasses(c, v)) failed.push(checkToString(c));
  }
  return [...new Set(failed)];
}

/** Worse of two metric sets for the same pair (iterations keep the worst). */
function worse(a: MetricValues, b: MetricValues): boolean {
  if (b.allclose !== a.allclose) return b.allclose < a.allclose;
  return b.max_abs > a.max_abs;
}

function inversePerm(p: number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}

/**
 * Metrics, checks and (where someone will look: failing pairs and outputs) the histogram and
 * worst elements of one pair; undefined when either side is not float data.
 */
async function measurePair(
  p: AlignedPair,
  r: Held,
  cInfo: ActInfo,
  c: { tensor?: tf.Tensor; data?: Float32Array; shape: number[] },
  opts: CompareOptions,
  isOutputPair: (p: { reference: string; candidate: string }) => boolean,
  where: Where = 'auto',
  /** false: metrics and checks only (a guessed pair, likely not to be used: see speculate.ts). */
  detail = true,
): Promise<{ result: Promise<Measurement> } | undefined> {
  if (r.dtype !== 'float32' || cInfo.dtype !== 'float32' || !hasValues(r) || !(c.tensor || c.data)) return undefined;
  const isOutput = isOutputPair(p);
  const tol = toleranceFor(p, opts);
  let failed: string[] = [];
  let partial = false;
  const later = await measureLater(r, c, p.transform, { ...tol, nanEqual: opts.nanEqual, topk: isOutput ? opts.topk : 0 }, (mp) => {
    failed = failedChecks(mp, p, opts);
    const wanted = failed.length > 0 || isOutput;
    partial = wanted && !detail;
    return wanted && detail;
  }, where);
  const result = later.result.then(({ m, host }) => {
      const { refStats, candStats, ...metrics } = m;
      return {
        metrics,
        refStats,
        candStats,
        failed,
        // Histograms and worst elements cost extra passes: only where someone will look.
        histogram: host ? errorHistogram(host.ref, host.cand) : { decades: [], counts: [], zero: m.count, nonfinite: 0 },
        worst: host ? worstElements(host.ref, host.cand, r.shape, 5) : [],
        ...(partial ? { partial } : {}),
      };
  });
  // Awaited later; a failure must not count as unhandled meanwhile.
  result.catch(() => {});
  return { result };
}

/**
 * Which reference activations a candidate activation pairs with before alignment has run:
 * from the alignment of an earlier iteration (`known`), else map entries and exact names.
 */
function pairDecider(alignment: Alignment | undefined, map: Alignment | undefined): (ref: SideRun) => Decider {
  return (ref) => {
    if (alignment) {
      const byCand = new Map<string, AlignedPair[]>();
      const reads = new Map<string, number>();
      for (const p of alignment.pairs) {
        byCand.set(norm(p.candidate), [...(byCand.get(norm(p.candidate)) ?? []), p]);
        reads.set(norm(p.reference), (reads.get(norm(p.reference)) ?? 0) + 1);
      }
      return {
        wanted: (c) => (byCand.get(norm(c.name)) ?? []).map((p) => norm(p.reference)),
        decide: (c) =>
          (byCand.get(norm(c.name)) ?? []).flatMap((p) => {
            const r = ref.byName.get(norm(p.reference));
            return r ? [{ ref: r, strategy: p.strategy, transform: p.transform ?? {}, known: true }] : [];
          }),
        partners: (n) => reads.get(n) ?? 1,
        keeps: (n, side) => (side === 'reference' ? reads.has(n) : byCand.has(n)),
        patient: true,
      };
    }
    const early = new EarlyPairs(ref.byName, map);
    return {
      wanted: (c) => early.wanted(c),
      decide: (c) => early.decide(c).map((d) => ({ ref: d.ref as Held, strategy: d.strategy, ...(d.transform ? { transform: d.transform } : {}), known: false })),
      partners: (n) => early.partners(n),
      keeps: () => true,
      patient: false,
    };
  };
}

/**
 * Whether an unpaired reference activation met on the way from `pairRef` to its upstream pairs
 * is a computation the candidate may lack: a float value of a layer-like op (not a constant, an
 * input or data movement) outside `pairRef`'s own scope (conv1/Conv2D and conv1/BiasAdd are
 * inside the layer a Keras conv1 pairs with at conv1/Relu).
 */
function computesUnpaired(a: ActInfo, pairRef: string): boolean {
  if (!isPairable(a, 'reference') || isMovement(a.type)) return false;
  const scope = (n: string) => n.slice(0, Math.max(0, n.lastIndexOf('/')));
  return !scope(a.name) || scope(a.name) !== scope(pairRef);
}

/** Said in the summary when no pair is an output: then every pair decides the verdict. */
const NO_OUTPUTS = '; no output of either model is in a pair (every pair decides the verdict)';

/** A model's facts with its runner's warnings, when it has any. */
function withWarnings(facts: ModelFacts, runner: Runner): ModelFacts {
  return runner.warnings?.length ? { ...facts, warnings: [...runner.warnings] } : facts;
}

/**
 * Compares a reference and a candidate runner on the same seeded feeds: alignment, metrics,
 * first divergence, own vs inherited error. Returns the Result; never throws for a model that
 * merely differs (that is a 'not-equivalent' verdict).
 */
export async function compareRunners(reference: Runner, candidate: Runner, opts: CompareOptions): Promise<Result> {
  const started = new Date();
  const tStart = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const timings = { referenceMs: 0, candidateMs: 0, compareMs: 0, ownErrorMs: 0, totalMs: 0 };
  let alignment: Alignment | undefined;
  const pairResults = new Map<number, PairResult>();
  let inputFacts: InputFacts[] = [];
  let refOrder: ActInfo[] = [];
  const iterations = Math.max(1, opts.iterations);
  let ownByPair = new Map<number, { metrics: MetricValues; pass: boolean } | string>();
  // No per-tensor tolerances: toleranceFor looks nothing up (an empty object's misses cost a string lookup each).
  if (opts.perTensor && Object.keys(opts.perTensor).length === 0) opts = { ...opts, perTensor: undefined };
  const refOutputs = new Set(reference.outputs().map(norm));
  // A pair is an output when either side is one of its model's outputs: a converted model's
  // outputs are what it is for, even where the reference's are other nodes (a training graph
  // from a checkpoint ends in its loss; its prediction is the SavedModel's output).
  const candOutputs = new Set(candidate.outputs().map(norm));
  const isOutputPair = (p: { reference: string; candidate: string }) => refOutputs.has(norm(p.reference)) || candOutputs.has(norm(p.candidate));
  // Starts the metrics thread now, so it is up by the time the first pairs arrive.
  MetricsPool.get();

  for (let it = 0; it < iterations; it++) {
    const seed = opts.seed + it;
    const { feeds, sources } = opts.feeds(it, seed);
    const refSpecs = reference.inputs();
    const bindings = bindInputs(refSpecs, candidate.inputs(), feeds);
    if (it === 0) {
      inputFacts = refSpecs.map((s) => {
        const f = feeds.get(norm(s.name))!;
        const b = bindings.find((x) => x.reference === norm(s.name));
        return {
          name: norm(s.name),
          ...(b && b.candidate !== norm(s.name) ? { candidateName: b.candidate } : {}),
          dtype: f?.dtype ?? s.dtype,
          shape: f?.shape ?? [],
          source: sources[norm(s.name)] ?? 'given',
          ...(b?.perm ? { candidatePerm: b.perm } : {}),
        };
      });
    }
    const refFeeds = new Map<string, tf.Tensor>();
    const candFeeds = new Map<string, tf.Tensor>();
    const store = new ActivationStore();
    try {
      for (const [k, v] of feeds) refFeeds.set(k, hostToTf(v, `input '${k}'`));
      for (const b of bindings) {
        const t = refFeeds.get(b.reference)!;
        candFeeds.set(b.candidate, b.perm ? tf.transpose(t, b.perm) : share(t));
      }
      // Pairs known before alignment (map entries and exact names; every pair after the first
      // iteration) are measured while both run.
      const measured = new Map<string, Promise<Measurement>>();
      const decided: AlignedPair[] = [];
      let inRunMs = 0;
      const onPair = async (d: Decision, info: Held, values: { tensor?: tf.Tensor; data?: Float32Array; shape: number[] }): Promise<void> => {
        const tPair = performance.now();
        let transform = d.transform;
        // One way to read the candidate (the usual case: same shape, not square): no scoring.
        const ts = transform === undefined && !d.known ? candidateTransforms(d.ref, info) : [];
        if (ts.length === 1) transform = ts[0];
        else if (transform === undefined && !d.known) {
          const view = values.tensor ? wasmHeapView(values.tensor) : null;
          const cData = view ? null : (values.data ?? ((await values.tensor!.data()) as Float32Array));
          transform = withHeapViews([d.ref], () => {
            const cv = view ? new Float32Array(view.memory.buffer, view.offset, values.tensor!.size) : cData!;
            return chooseTransform(d.ref, { ...info, data: cv }, ts)?.t;
          });
        }
        const p: AlignedPair = {
          reference: d.ref.name,
          candidate: info.name,
          strategy: d.strategy,
          confidence: 1,
          ...(transform && (transform.perm || transform.reshape) ? { transform } : {}),
        };
        if (!d.known) decided.push(p);
        // Resolves once the values are copied or measured: the tensors may go after that.
        const m = await measurePair(p, d.ref, info, values, opts, isOutputPair);
        if (m) measured.set(pairKey(p.reference, p.candidate), m.result);
        inRunMs += performance.now() - tPair;
      };
      // Names that pair with nothing: pairs guessed and measured while both run.
      // Never let go early: model outputs (their pairs need histograms and worst elements) and
      // what the map pairs (its pair is measured when the other side arrives).
      const keepRef = new Set([...refOutputs, ...(opts.map?.pairs ?? []).map((p) => norm(p.reference))]);
      const keepCand = new Set([...candOutputs, ...(opts.map?.pairs ?? []).map((p) => norm(p.candidate))]);
      const pinned = (h: Held, side: Side) => (side === 'reference' ? keepRef : keepCand).has(norm(h.name));
      const spec = !alignment && !opts.namesOnly && process.env.PARITY_GUESS !== '0' ? new Speculator<Measurement>(pinned, !opts.perTensor && !(opts.checks ?? []).some((c) => c.tensor)) : undefined;
      const least = guessMinElements();
      const guess = spec
        ? async (side: Side, x: Held, t: tf.Tensor, position: number): Promise<Held[]> => {
            // Small activations cost less to hold than to guess (and are left to alignment).
            if (t.size < least) return [];
            const tGuess = performance.now();
            try {
              return await spec.guess(
                side,
                x,
                t,
                position,
                (r, c, cValues, transform) => {
                  const p: AlignedPair = { reference: r.name, candidate: c.name, strategy: 'numeric', confidence: 1, ...(transform.perm || transform.reshape ? { transform } : {}) };
                  return measurePair(p, r, c, cValues, opts, isOutputPair, 'auto', false);
                },
                (h) => store.release(h),
              );
            } finally {
              inRunMs += performance.now() - tGuess;
            }
          }
        : undefined;
      progress(`iteration ${it + 1}/${iterations}: running reference and candidate`);
      const { ref, cand } = await runBoth(reference, candidate, refFeeds, candFeeds, store, pairDecider(alignment, opts.map), onPair, !alignment, guess);
      timings.referenceMs += ref.ms;
      timings.candidateMs += cand.ms;
      timings.compareMs += inRunMs;
      const t0 = performance.now();
      if (!alignment) {
        alignment = withHeapViews([...ref.acts, ...cand.acts], () =>
          align(ref.acts, cand.acts, {
            map: opts.map,
            decided,
            namesOnly: opts.namesOnly,
            referenceOutputs: reference.outputs(),
            candidateOutputs: candidate.outputs(),
            ...(spec ? { samples: spec.samples } : {}),
          }),
        );
        refOrder = ref.acts;
      }
      // Pairs only alignment could make are measured now; then every result is waited for.
      const later = new Map<number, Promise<Measurement>>();
      let secondRunMs = 0;
      // The models are done, so both threads measure: the metrics thread takes the first half
      // of the elements (in place on a shared tfjs heap), this thread the rest, and they end
      // at about the same time.
      const todo: { p: AlignedPair; r?: Held; c?: Held; m?: Promise<Measurement>; n: number }[] = [];
      for (const p of alignment.pairs) {
        const r = ref.byName.get(norm(p.reference));
        const c = cand.byName.get(norm(p.candidate));
        let m = r && c ? measured.get(pairKey(p.reference, p.candidate)) : undefined;
        if (r && c && !m && spec) {
          // A guess measured without its detail (it fails, or is an output) is measured again
          // now, or in the second run when its values were let go.
          // A guess that failed to measure is as if not made.
          const g = spec.take(p.reference, p.candidate, p.transform);
          const gm = g ? await g.catch(() => undefined) : undefined;
          if (g && gm && !gm.partial) m = g;
        }
        todo.push({ p, r, c, m, n: r && c && !m && hasValues(r) && hasValues(c) ? r.shape.reduce((x, y) => x * y, 1) : 0 });
      }
      const half = todo.reduce((a, x) => a + x.n, 0) / 2;
      let given = 0;
      for (const [idx, { p, r, c, m: known, n }] of todo.entries()) {
        if (!r || !c) continue;
        let m = known;
        if (!m && n > 0) {
          m = (await measurePair(p, r, c, c, opts, isOutputPair, given < half ? 'thread' : 'here'))?.result;
          given += n;
        }
        if (m) later.set(idx, m);
      }
      // Pairs whose values were not held (past the hold budget only samples were): both models
      // run again, streaming, with the alignment known, and those pairs are measured as they come.
      const rerun = todo.filter((x) => x.r && x.c && !x.m && x.n === 0 && x.r.dtype === 'float32' && x.c.dtype === 'float32' && (x.r.samples || x.c.samples));
      if (rerun.length) {
        for (const m of later.values()) await m.catch(() => undefined);
        // What the first run held is not needed any more (own error re-runs the reference for what it needs).
        for (const a of [...ref.acts, ...cand.acts]) if (isPairable(a, ref.byName.get(norm(a.name)) === a ? 'reference' : 'candidate')) store.release(a);
        progress(`iteration ${it + 1}/${iterations}: running both again to measure ${rerun.length} pairs whose values were not held`);
        const store2 = new ActivationStore();
        try {
          // Both stop once the last of those pairs is measured (often early in the models).
          const keys = rerun.map((x) => pairKey(x.p.reference, x.p.candidate));
          const again = await runBoth(
            reference,
            candidate,
            refFeeds,
            candFeeds,
            store2,
            pairDecider({ version: 1, pairs: rerun.map((x) => x.p), unmatched: { reference: [], candidate: [] } }, undefined),
            onPair,
            false,
            undefined,
            () => keys.every((k) => measured.has(k)),
          );
          timings.referenceMs += again.ref.ms;
          timings.candidateMs += again.cand.ms;
          // Counted as runs, not in this section's compare time.
          secondRunMs = again.ref.ms + again.cand.ms;
        } finally {
          store2.dispose();
        }
        for (const [idx, x] of todo.entries()) {
          const m = measured.get(pairKey(x.p.reference, x.p.candidate));
          if (m && !later.has(idx)) later.set(idx, m);
        }
      }
      const results: (Measurement | undefined)[] = [];
      for (const [idx, m] of later) results[idx] = await m;
      alignment.pairs.forEach((p, idx) => {
        const r = ref.byName.get(norm(p.reference));
        const c = cand.byName.get(norm(p.candidate));
        const m = results[idx];
        if (!r || !c || !m) return;
        const prev = pairResults.get(idx);
        if (prev && !worse(prev.metrics, m.metrics)) return;
        pairResults.set(idx, {
          index: idx,
          reference: p.reference,
          candidate: p.candidate,
          referenceOp: r.type,
          candidateType: c.type,
          strategy: p.strategy,
          confidence: p.confidence,
          ...(p.transform ? { transform: p.transform } : {}),
          referenceShape: r.shape,
          candidateShape: c.shape,
          metrics: m.metrics,
          tolerance: toleranceFor(p, opts),
          pass: m.failed.length === 0,
          failed: m.failed,
          isOutput: isOutputPair(p),
          upstream: [],
          referenceStats: m.refStats,
          candidateStats: m.candStats,
          histogram: m.histogram,
          worst: m.worst,
        });
      });
      timings.compareMs += performance.now() - t0 - secondRunMs;
      if (it === 0 && opts.ownError !== false && candidate.runSingle) {
        const t1 = performance.now();
        const failing = [...pairResults.values()].filter((q) => !q.pass).sort((x, y) => x.index - y.index).slice(0, opts.maxOwnError ?? 50);
        if (failing.length) progress(`computing own error of ${failing.length} failing layer${failing.length === 1 ? '' : 's'}`);
        await refillReference(reference, refFeeds, ref, store, ownErrorNeeds(alignment, failing, cand));
        ownByPair = await ownErrors(alignment, failing, ref, cand, candFeeds, candidate, opts);
        timings.ownErrorMs += performance.now() - t1;
      }
    } finally {
      store.dispose();
      for (const t of refFeeds.values()) t.dispose();
      for (const t of candFeeds.values()) t.dispose();
    }
  }

  const align0 = alignment!;
  const pairs = [...pairResults.values()].sort((a, b) => a.index - b.index);
  // Re-index densely in reference order.
  const remap = new Map(pairs.map((p, i) => [p.index, i]));
  for (const p of pairs) {
    const own = ownByPair.get(p.index);
    if (own && typeof own !== 'string') p.own = own;
    else if (typeof own === 'string') p.ownSkipped = own;
    p.index = remap.get(p.index)!;
  }
  // Upstream pairs through the reference graph, and the unpaired activations on the way to them.
  const refActByName = new Map(refOrder.map((a) => [norm(a.name), a]));
  const pairOfRef = new Map(pairs.map((p) => [norm(p.reference), p.index]));
  const between = new Map<number, string[]>();
  for (const p of pairs) {
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
  const firstDivergence = pairs.find((p) => !p.pass && p.upstream.every((u) => pairs[u]!.pass))?.index;
  const withOwn = pairs.filter((p) => p.own);
  const rootCause = withOwn.length ? withOwn.find((p) => !p.own!.pass && !p.pass)?.index ?? firstDivergence : firstDivergence;
  // What the reference computes between the root cause's inputs and it that nothing pairs with
  // (a ReLU the conversion left out): its own error was measured without it.
  for (const i of new Set([rootCause, firstDivergence])) {
    const b = i !== undefined ? between.get(i) : undefined;
    if (b && !pairs[i!]!.pass) pairs[i!]!.unpairedBefore = b.slice(0, 8);
  }

  const outputs = pairs.filter((p) => p.isOutput);
  const failOn = opts.failOn ?? 'outputs';
  const counted = failOn === 'all' || outputs.length === 0 ? pairs : outputs;
  let verdict: Result['verdict'] = counted.every((p) => p.pass) ? 'equivalent' : 'not-equivalent';
  let error: Result['error'];
  if (pairs.length === 0) {
    verdict = 'error';
    error = { message: 'no reference node could be paired with a candidate layer; give an alignment map (--map)', code: 'alignment' };
  }
  const graph: GraphNodeFacts[] = (opts.graph ?? refOrder.map((a) => ({ name: a.name, op: a.type, inputs: a.producedFrom }))).map((n) => {
    const pi = pairOfRef.get(norm(n.name));
    const unmatched = align0.unmatched.reference.includes(n.name);
    return {
      name: n.name,
      op: n.op,
      inputs: n.inputs,
      ...(pi !== undefined ? { pair: pi } : {}),
      status: pi !== undefined ? (pairs[pi]!.pass ? 'pass' : 'fail') : unmatched ? 'unmatched' : 'not-compared',
    };
  });
  // A per-tensor tolerance or check whose name no pair has (a typo, a name from another
  // conversion) applied to nothing: the user is told, or they would read its absence as a pass.
  const pairNames = new Set(pairs.flatMap((p) => [norm(p.reference), norm(p.candidate)]));
  const unusedNames = [
    ...Object.keys(opts.perTensor ?? {}).filter((n) => !pairNames.has(norm(n))).map((n) => `the per-tensor tolerance for '${n}' applied to nothing: no compared pair has that reference or candidate name`),
    ...[...new Set((opts.checks ?? []).filter((c) => c.tensor && !pairNames.has(norm(c.tensor))).map(checkToString))].map((c) => `the check '${c}' applied to nothing: no compared pair has that reference or candidate name`),
  ];
  // The kernel's own memory (for host arrays) cannot shrink: let it go between comparisons.
  releaseOwnMemory();
  timings.totalMs = performance.now() - tStart;
  const fd = firstDivergence !== undefined ? pairs[firstDivergence] : undefined;
  const summary =
    verdict === 'equivalent'
      ? `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance${outputs.length ? '' : NO_OUTPUTS}`
      : verdict === 'error'
        ? `error: ${error!.message}`
        : `not equivalent: first divergence at ${fd ? `'${fd.reference}' (${fd.referenceOp}) ~ '${fd.candidate}' (${fd.candidateType})` : 'an output'}; ` +
          `${pairs.filter((p) => !p.pass).length} of ${pairs.length} pairs fail${outputs.length ? '' : NO_OUTPUTS}`;
  return {
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: { name: 'tf-parity', version: VERSION },
    verdict,
    summary,
    reference: withWarnings(opts.referenceFacts, reference),
    candidate: withWarnings(opts.candidateFacts, candidate),
    run: {
      seed: opts.seed,
      iterations,
      backend: tf.getBackend(),
      fallbackKernels: [...(backendInfo()?.fallbackKernels ?? [])].sort(),
      tolerance: opts.tolerance,
      perTensor: opts.perTensor ?? {},
      checks: (opts.checks ?? []).map(checkToString),
      ...(unusedNames.length ? { warnings: unusedNames } : {}),
      startedAt: started.toISOString(),
      timings,
    },
    inputs: inputFacts,
    pairs,
    ...(firstDivergence !== undefined ? { firstDivergence } : {}),
    ...(rootCause !== undefined ? { rootCause } : {}),
    unmatched: align0.unmatched,
    alignment: align0.pairs,
    graph,
    ...(error ? { error } : {}),
  };
}

/** The reference activations the own-error re-runs of `failing` read (their outputs, and what feeds them). */
function ownErrorNeeds(alignment: Alignment, failing: PairResult[], cand: SideRun): Set<string> {
  const pairByCand = new Map(alignment.pairs.map((p) => [norm(p.candidate), p]));
  const need = new Set<string>();
  const walk = (src: string, depth: number) => {
    const up = pairByCand.get(norm(src));
    if (up) {
      need.add(norm(up.reference));
      return;
    }
    const c = cand.byName.get(norm(src));
    if (c && depth < 4) for (const s2 of c.producedFrom) walk(s2, depth + 1);
  };
  for (const pr of failing) {
    const p = alignment.pairs[pr.index]!;
    need.add(norm(p.reference));
    for (const src of cand.byName.get(norm(p.candidate))?.producedFrom ?? []) walk(src, 0);
  }
  return need;
}

/**
 * Values of reference activations that were let go after their pair was measured, computed
 * again by a second reference run on the same feeds (deterministic: same kernels, same inputs).
 * Only comparisons with failing layers pay for it, and only when those need such values.
 */
async function refillReference(reference: Runner, refFeeds: Map<string, tf.Tensor>, ref: SideRun, store: ActivationStore, need: Set<string>): Promise<void> {
  const missing = new Set([...need].filter((n) => {
    const h = ref.byName.get(n);
    return h && h.dtype === 'float32' && !hasValues(h);
  }));
  if (!missing.size) return;
  // 'all': activations inside function calls and loops are recorded only then.
  for await (const a of reference.run(refFeeds, { record: 'all' }) as AsyncIterable<Activation>) {
    let owned = false;
    try {
      const h = ref.byName.get(norm(a.name));
      if (h && missing.has(norm(a.name)) && a.tensor.dtype === 'float32') owned = await store.keep(h, a.tensor);
    } finally {
      if (!owned) a.tensor.dispose();
    }
  }
}

/**
 * Own error: each failing candidate layer re-run alone on the reference's inputs to it
 * (its inputs' paired reference activations, brought into the candidate's layout).
 */
async function ownErrors(
  alignment: Alignment,
  failing: PairResult[],
  ref: SideRun,
  cand: SideRun,
  candFeeds: Map<string, tf.Tensor>,
  candidate: Runner,
  opts: CompareOptions,
): Promise<Map<number, { metrics: MetricValues; pass: boolean } | string>> {
  const out = new Map<number, { metrics: MetricValues; pass: boolean } | string>();
  const pairByCand = new Map(alignment.pairs.map((p) => [norm(p.candidate), p]));
  for (const pr of failing) {
    const p = alignment.pairs[pr.index]!;
    const c = cand.byName.get(norm(p.candidate));
    const r = ref.byName.get(norm(p.reference));
    if (!c || !hasValues(r)) continue;
    const made: tf.Tensor[] = [];
    /**
     * The value a candidate layer input takes when everything upstream is the reference: a feed,
     * a paired activation (in the candidate's layout), the candidate's own constant, or, for an
     * unpaired candidate layer (e.g. a ZeroPadding2D the original folds into its conv), that
     * layer re-run on such values, a few levels deep.
     */
    const valueFor = async (src: string, depth: number): Promise<tf.Tensor | string> => {
      const feed = candFeeds.get(src) ?? candFeeds.get(norm(src));
      if (feed) return feed;
      const up = pairByCand.get(norm(src));
      const upCand = cand.byName.get(norm(src));
      const upRef = up ? ref.byName.get(norm(up.reference)) : undefined;
      if (up && upCand && hasValues(upRef)) {
        const t = referenceInCandidateLayout(upRef, upCand, up.transform);
        made.push(t);
        return t;
      }
      if (upCand && (upCand.type === 'Const' || upCand.dtype !== 'float32')) {
        const own = upCand.data ?? upCand.intData;
        if (own || upCand.tensor) {
          const t = upCand.tensor ? share(upCand.tensor) : tf.tensor(own!, upCand.shape, upCand.dtype as 'float32' | 'int32' | 'bool');
          made.push(t);
          return t;
        }
      }
      if (upCand && depth < 4) {
        const ins: tf.Tensor[] = [];
        for (const s2 of upCand.producedFrom) {
          const v = await valueFor(s2, depth + 1);
          if (typeof v === 'string') return v;
          ins.push(v);
        }
        const outs = await candidate.runSingle!(upCand.name, ins);
        for (const t of outs) if (t) made.push(t);
        return outs[upCand.outputIndex ?? 0] ?? `re-running '${src}' gave no output`;
      }
      return `its input '${src}' has no paired reference activation`;
    };
    try {
      const inputs: tf.Tensor[] = [];
      let skip: string | undefined;
      for (const src of c.producedFrom) {
        const v = await valueFor(src, 0);
        if (typeof v === 'string') {
          skip = v;
          break;
        }
        inputs.push(v);
      }
      if (skip) {
        out.set(pr.index, skip);
        continue;
      }
      const outs = await candidate.runSingle!(p.candidate, inputs);
      for (const t of outs) if (t) made.push(t);
      const o = outs[c.outputIndex ?? 0] ?? outs[0];
      if (!o) {
        out.set(pr.index, 'the layer produced no output when re-run alone');
      } else {
        const { refStats: _r, candStats: _c, ...m } = measure(r, { tensor: o, shape: o.shape }, p.transform, { ...pr.tolerance, nanEqual: opts.nanEqual }, () => false).m;
        out.set(pr.index, { metrics: m, pass: failedChecks(m, p, opts).length === 0 });
      }
    } catch (e) {
      out.set(pr.index, e instanceof ParityError ? e.message : `re-running the layer alone failed: ${(e as Error).message}`);
    } finally {
      for (const t of made) if (!t.isDisposed) t.dispose();
    }
  }
  return out;
}

/** The reference activation as a tensor in the candidate's layout and shape. */
function referenceInCandidateLayout(r: Held, c: ActInfo, t: Transform | undefined): tf.Tensor {
  const refT = valuesTensor(r);
  if (t?.perm) {
    const back = tf.transpose(refT, inversePerm(t.perm));
    refT.dispose();
    return back;
  }
  if (t?.reshape || r.shape.join() !== c.shape.join()) {
    const re = tf.reshape(refT, c.shape);
    refT.dispose();
    return re;
  }
  return refT;
}

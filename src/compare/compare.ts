import * as tf from '@tensorflow/tfjs-core';
import { backendInfo } from '../backend/index.js';
import { hostToTf } from '../backend/convert.js';
import { InputError, ParityError } from '../core/errors.js';
import type { Activation, Runner } from '../core/runner.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';
import { VERSION } from '../version.js';
import type { ActInfo, AlignedPair, Alignment, Transform } from './align.js';
import { align, applyTransform } from './align.js';
import type { Check, MetricValues } from './metrics.js';
import { checkPasses, checkToString, computeMetrics, errorHistogram, worstElements } from './metrics.js';
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
  acts: ActInfo[];
  byName: Map<string, ActInfo>;
  ms: number;
}

/** Runs a runner and keeps host copies of every float activation (tensors are disposed at once). */
async function collect(runner: Runner, feeds: Map<string, tf.Tensor>): Promise<SideRun> {
  const t0 = performance.now();
  const acts: ActInfo[] = [];
  const it = runner.run(feeds, { record: 'all' }) as AsyncIterable<Activation>;
  for await (const a of it) {
    try {
      const info: ActInfo = {
        name: a.name,
        type: a.type,
        shape: a.tensor.shape.slice(),
        dtype: a.tensor.dtype,
        index: acts.length,
        layout: a.layout,
        producedFrom: a.producedFrom,
        ...(a.outputIndex !== undefined ? { outputIndex: a.outputIndex } : {}),
      };
      if (a.tensor.dtype === 'float32') info.data = (await a.tensor.data()) as Float32Array;
      else if (a.tensor.dtype === 'int32' || a.tensor.dtype === 'bool') info.intData = (await a.tensor.data()) as Int32Array | Uint8Array;
      acts.push(info);
    } finally {
      a.tensor.dispose();
    }
  }
  return { acts, byName: new Map(acts.map((a) => [norm(a.name), a])), ms: performance.now() - t0 };
}

function toleranceFor(p: AlignedPair, opts: CompareOptions): Tolerance {
  const per = opts.perTensor ?? {};
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
    try {
      for (const [k, v] of feeds) refFeeds.set(k, hostToTf(v, `input '${k}'`));
      for (const b of bindings) {
        const t = refFeeds.get(b.reference)!;
        candFeeds.set(b.candidate, b.perm ? tf.transpose(t, b.perm) : tf.clone(t));
      }
      progress(`iteration ${it + 1}/${iterations}: running reference`);
      const ref = await collect(reference, refFeeds);
      progress(`iteration ${it + 1}/${iterations}: running candidate`);
      const cand = await collect(candidate, candFeeds);
      timings.referenceMs += ref.ms;
      timings.candidateMs += cand.ms;
      const t0 = performance.now();
      if (!alignment) {
        alignment = align(ref.acts, cand.acts, {
          map: opts.map,
          namesOnly: opts.namesOnly,
          referenceOutputs: reference.outputs(),
          candidateOutputs: candidate.outputs(),
        });
        refOrder = ref.acts;
      }
      const refOutputs = new Set(reference.outputs().map(norm));
      alignment.pairs.forEach((p, idx) => {
        const r = ref.byName.get(norm(p.reference));
        const c = cand.byName.get(norm(p.candidate));
        if (!r?.data || !c?.data) return;
        const cData = applyTransform(c.data, r.shape, c.shape, p.transform);
        const tol = toleranceFor(p, opts);
        const { refStats, candStats, ...metricValues } = computeMetrics(r.data, cData, { ...tol, nanEqual: opts.nanEqual, topk: refOutputs.has(norm(p.reference)) ? opts.topk : 0 }, r.shape);
        const m = { ...metricValues, refStats, candStats };
        const prev = pairResults.get(idx);
        if (prev && !worse(prev.metrics, m)) return;
        const failed = failedChecks(m, p, opts);
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
          metrics: metricValues,
          tolerance: tol,
          pass: failed.length === 0,
          failed,
          isOutput: refOutputs.has(norm(p.reference)),
          upstream: [],
          referenceStats: m.refStats,
          candidateStats: m.candStats,
          // Histograms and worst elements cost extra passes: only where someone will look.
          histogram: failed.length || refOutputs.has(norm(p.reference)) ? errorHistogram(r.data, cData) : { decades: [], counts: [], zero: m.count, nonfinite: 0 },
          worst: failed.length || refOutputs.has(norm(p.reference)) ? worstElements(r.data, cData, r.shape, 5) : [],
        });
      });
      timings.compareMs += performance.now() - t0;
      if (it === 0 && opts.ownError !== false && candidate.runSingle) {
        const t1 = performance.now();
        progress('computing own error of failing layers');
        ownByPair = await ownErrors(alignment, pairResults, ref, cand, candFeeds, candidate, opts);
        timings.ownErrorMs += performance.now() - t1;
      }
    } finally {
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
  // Upstream pairs through the reference graph.
  const refActByName = new Map(refOrder.map((a) => [norm(a.name), a]));
  const pairOfRef = new Map(pairs.map((p) => [norm(p.reference), p.index]));
  for (const p of pairs) {
    const seen = new Set<string>();
    const up = new Set<number>();
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
      for (const q of refActByName.get(n)?.producedFrom ?? []) stack.push(norm(q));
    }
    p.upstream = [...up].sort((a, b) => a - b);
  }
  const firstDivergence = pairs.find((p) => !p.pass && p.upstream.every((u) => pairs[u]!.pass))?.index;
  const withOwn = pairs.filter((p) => p.own);
  const rootCause = withOwn.length ? withOwn.find((p) => !p.own!.pass && !p.pass)?.index ?? firstDivergence : firstDivergence;

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
  timings.totalMs = performance.now() - tStart;
  const fd = firstDivergence !== undefined ? pairs[firstDivergence] : undefined;
  const summary =
    verdict === 'equivalent'
      ? `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance`
      : verdict === 'error'
        ? `error: ${error!.message}`
        : `not equivalent: first divergence at ${fd ? `'${fd.reference}' (${fd.referenceOp}) ~ '${fd.candidate}' (${fd.candidateType})` : 'an output'}; ` +
          `${pairs.filter((p) => !p.pass).length} of ${pairs.length} pairs fail`;
  return {
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: { name: 'tf-parity', version: VERSION },
    verdict,
    summary,
    reference: opts.referenceFacts,
    candidate: opts.candidateFacts,
    run: {
      seed: opts.seed,
      iterations,
      backend: tf.getBackend(),
      fallbackKernels: [...(backendInfo()?.fallbackKernels ?? [])].sort(),
      tolerance: opts.tolerance,
      perTensor: opts.perTensor ?? {},
      checks: (opts.checks ?? []).map(checkToString),
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

/**
 * Own error: each failing candidate layer re-run alone on the reference's inputs to it
 * (its inputs' paired reference activations, brought into the candidate's layout).
 */
async function ownErrors(
  alignment: Alignment,
  results: Map<number, PairResult>,
  ref: SideRun,
  cand: SideRun,
  candFeeds: Map<string, tf.Tensor>,
  candidate: Runner,
  opts: CompareOptions,
): Promise<Map<number, { metrics: MetricValues; pass: boolean } | string>> {
  const out = new Map<number, { metrics: MetricValues; pass: boolean } | string>();
  const pairByCand = new Map(alignment.pairs.map((p) => [norm(p.candidate), p]));
  const failing = [...results.values()].filter((p) => !p.pass).sort((a, b) => a.index - b.index);
  const limit = opts.maxOwnError ?? 50;
  for (const pr of failing.slice(0, limit)) {
    const p = alignment.pairs[pr.index]!;
    const c = cand.byName.get(norm(p.candidate));
    const r = ref.byName.get(norm(p.reference));
    if (!c || !r?.data) continue;
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
      if (up && upCand && upRef?.data) {
        const t = referenceInCandidateLayout(upRef, upCand, up.transform);
        made.push(t);
        return t;
      }
      if (upCand && (upCand.type === 'Const' || upCand.dtype !== 'float32')) {
        const own = upCand.data ?? upCand.intData;
        if (own) {
          const t = tf.tensor(own, upCand.shape, upCand.dtype as 'float32' | 'int32' | 'bool');
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
        made.push(...outs);
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
      made.push(...outs);
      const o = outs[c.outputIndex ?? 0] ?? outs[0];
      if (!o) {
        out.set(pr.index, 'the layer produced no output when re-run alone');
      } else {
        const data = (await o.data()) as Float32Array;
        const t = applyTransform(Float32Array.from(data), r.shape, o.shape, p.transform);
        const { refStats: _r, candStats: _c, ...m } = computeMetrics(r.data, t, { ...pr.tolerance, nanEqual: opts.nanEqual });
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
function referenceInCandidateLayout(r: ActInfo, c: ActInfo, t: Transform | undefined): tf.Tensor {
  const refT = tf.tensor(r.data!, r.shape, 'float32');
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

import { numElements } from '../core/tensor.js';
import { tf } from '../backend/tf.js';
import { share } from '../backend/index.js';
import type { ActInfo, Transform } from './align/index.js';
import { applyTransform, sampleActivation, transformFits } from './align/index.js';
import { InputError } from '../core/errors.js';
import { wasmHeapView } from './device.js';
import type { JobSums, JobView } from './simd/pool.js';
import { batchedTranspose } from './simd/metric-pass.js';
import { MetricsPool } from './simd/pool.js';
import type { EngineConfig } from './engine.js';
import type { MetricOptions, MetricPass } from './metrics.js';
import { computeMetrics, computeMetricsInMemory, metricsFromPasses } from './metrics.js';

/**
 * An activation as the comparison holds it between the two runs: its facts, and its values
 * either as a tensor left on the tfjs wasm heap (`tensor`, read in place by the SIMD metric pass)
 * or as a host copy (`data`).
 */
export interface Held extends ActInfo {
  tensor?: tf.Tensor;
}

/** The candidate's values of a pair: its tensor (in its own layout), or host data. */
export interface PairValues {
  tensor?: tf.Tensor;
  data?: Float32Array;
  shape: number[];
}

/** Holds activations' values for one run of both models (MeasureEngine.holder). */
export interface Holder {
  /**
   * Holds a float32 activation's values in `info` (true: the holder owns the tensor now, and
   * disposes it). With `sample` (the side, during a first run) it may keep only samples.
   */
  hold(info: Held, t: tf.Tensor, sample?: 'reference' | 'candidate'): Promise<boolean>;
  /** Lets an activation's values go (its facts stay). */
  release(h: Held): void;
  dispose(): void;
}

/** The plain engine's holder: every activation a host copy, held until let go. */
export class HostStore implements Holder {
  async hold(info: Held, t: tf.Tensor): Promise<boolean> {
    info.data = (await t.data()) as Float32Array;
    return false;
  }

  release(h: Held): void {
    delete h.tensor;
    delete h.data;
  }

  dispose(): void {}
}

/**
 * The fast engine's holder: tensors left on the device (the wasm heap) while they fit its
 * budget, else host copies; past the hold budget, during a first run, samples only.
 */
export class ActivationStore implements Holder {
  private bytes = 0;
  private hostBytes = 0;
  private readonly held = new Set<tf.Tensor>();
  private readonly onHost = new WeakSet<Held>();
  private readonly budget: number;
  private readonly holdLimit: number;
  /** Activations kept as samples only (their pairs need the second run). */
  sampled = 0;

  /** `holdBytes`: past it, a first run keeps samples only; `deviceBytes`: past it, values are copied to the host. */
  constructor(engine: Pick<EngineConfig, 'holdBytes' | 'deviceBytes'>) {
    this.budget = engine.deviceBytes;
    this.holdLimit = engine.holdBytes;
  }

  /**
   * Keeps a float32 activation's values: the tensor itself when it is on the wasm heap and fits
   * the device budget (true: the store owns it now), else a host copy. With `sample` (the side,
   * during a first run), past the hold budget only its samples are kept.
   */
  async hold(info: Held, t: tf.Tensor, sample?: 'reference' | 'candidate'): Promise<boolean> {
    const bytes = t.size * 4;
    if (sample && this.bytes + this.hostBytes + bytes > this.holdLimit) {
      const v = wasmHeapView(t);
      info.samples = sampleActivation(v ? new Float32Array(v.memory.buffer, v.offset, t.size) : ((await t.data()) as Float32Array), info.shape, sample);
      this.sampled++;
      return false;
    }
    if (this.bytes + bytes <= this.budget && wasmHeapView(t)) {
      info.tensor = t;
      this.bytes += bytes;
      this.held.add(t);
      return true;
    }
    info.data = (await t.data()) as Float32Array;
    this.hostBytes += bytes;
    this.onHost.add(info);
    return false;
  }

  release(h: Held): void {
    const t = h.tensor;
    if (t && this.held.delete(t)) {
      this.bytes -= t.size * 4;
      t.dispose();
    }
    if (h.data && this.onHost.delete(h)) this.hostBytes -= h.data.length * 4;
    delete h.tensor;
    delete h.data;
  }

  dispose(): void {
    for (const t of this.held) if (!t.isDisposed) t.dispose();
    this.held.clear();
    this.bytes = 0;
    this.hostBytes = 0;
  }
}

export function hasValues(h: Held | undefined): h is Held {
  return !!h && (!!h.data || (!!h.tensor && !h.tensor.isDisposed));
}

/** The values on the host (a copy for device tensors; for reports' histograms and worst elements). */
export function hostValues(h: Held): Float32Array {
  return h.data ?? (h.tensor!.dataSync() as Float32Array);
}

/**
 * Sets `data` of device-held activations to views of the wasm heap for the duration of `fn`,
 * which must not run tfjs ops (a heap growth would detach the views); then takes them away.
 */
export function withHeapViews<T>(acts: Held[], fn: () => T): T {
  const viewed: Held[] = [];
  for (const a of acts) {
    if (a.data || !a.tensor || a.tensor.isDisposed) continue;
    const v = wasmHeapView(a.tensor);
    // A held tensor can leave the wasm heap (a later op on the cpu backend moves shared data there).
    a.data = v ? new Float32Array(v.memory.buffer, v.offset, a.tensor.size) : (a.tensor.dataSync() as Float32Array);
    viewed.push(a);
  }
  try {
    return fn();
  } finally {
    for (const a of viewed) delete a.data;
  }
}

/** A tensor of the reference's values (the caller disposes it). */
export function valuesTensor(h: Held): tf.Tensor {
  return h.tensor ? share(h.tensor) : tf.tensor(h.data!, h.shape, 'float32');
}

/** Refuses to compare values whose shapes the transform does not reconcile (reading past a tensor would compare memory it does not own). */
function assertFits(r: Held, c: { shape: number[] }, t: Transform | undefined): void {
  if (!transformFits(r, c, t)) {
    throw new InputError(`cannot compare '${r.name}' [${r.shape}] with a candidate of shape [${c.shape}]${t ? ` under the transform ${JSON.stringify(t)}` : ''}`);
  }
}

export interface Measured {
  m: MetricPass;
  /** Host copies in the reference's element order, made only when `detail` asks for them. */
  host?: { ref: Float32Array; cand: Float32Array };
}

/**
 * Metrics of reference `r` against candidate values `c` (a tensor in the candidate's layout,
 * or host data) brought into the reference's order by `t`. When both are on the wasm heap the
 * metric pass reads them in place; a transposition is done on the device first.
 * `detail(m)` says whether host copies are wanted as well (histograms, worst elements).
 */
export function measure(
  r: Held,
  c: PairValues,
  t: Transform | undefined,
  opts: MetricOptions,
  detail: (m: MetricPass) => boolean,
): Measured {
  assertFits(r, c, t);
  let cT: tf.Tensor | undefined;
  let madeT = false;
  try {
    let m: MetricPass | null = null;
    if (r.tensor && !r.tensor.isDisposed && c.tensor) {
      cT = t?.perm ? tf.transpose(c.tensor, t.perm) : c.tensor;
      madeT = cT !== c.tensor;
      const rv = wasmHeapView(r.tensor);
      const cv = wasmHeapView(cT);
      if (rv && cv && rv.memory === cv.memory) m = computeMetricsInMemory(rv.memory, rv.offset, cv.offset, r.tensor.size, opts, r.shape);
    }
    let host: Measured['host'];
    const hostPair = () =>
      (host ??= {
        ref: hostValues(r),
        cand: cT ? (cT.dataSync() as Float32Array) : c.tensor ? applyTransform(c.tensor.dataSync() as Float32Array, r.shape, c.shape, t) : applyTransform(c.data!, r.shape, c.shape, t),
      });
    if (!m) {
      const h = hostPair();
      m = computeMetrics(h.ref, h.cand, opts, r.shape);
    }
    // Host copies only where detail asks for them (they may have been made for the pass itself).
    return { m, ...(detail(m) ? { host: hostPair() } : {}) };
  } finally {
    if (madeT) cT!.dispose();
  }
}

/**
 * Where measureLater() measures: 'auto' while the models run (the thread, from a copy, when it
 * has room; else here), 'thread' once they are done (the thread, in place where it can), 'here'.
 */
export type Where = 'auto' | 'thread' | 'here';

/** Pairs below this many elements are measured at once on the main thread (posting costs more). */
const THREAD_MIN = 16384;

/**
 * measure(), with the metrics pass on the metrics thread when it is running and has room: the
 * values are copied (in the reference's element order) into its shared memory while `r` and
 * `c` are alive, or with 'thread' read where they are on a shared tfjs heap, and `result`
 * comes later. Otherwise (no thread, a small pair, or the thread is behind: the main thread
 * does this one itself) it is measure(), done at once.
 */
export function measureLater(
  r: Held,
  c: PairValues,
  t: Transform | undefined,
  opts: MetricOptions,
  detail: (m: MetricPass) => boolean,
  where: Where = 'auto',
  /** Whether the metrics thread may take it (EngineConfig.metricsThread). */
  thread = true,
): { result: Promise<Measured> } {
  assertFits(r, c, t);
  const pool = thread ? MetricsPool.get() : null;
  const n = numElements(r.shape);
  const now = () => ({ result: Promise.resolve(measure(r, c, t, opts, detail)) });
  if (where === 'here' || !pool?.available() || n < THREAD_MIN || !hasValues(r)) return now();
  // A candidate read through a permutation, on the heap: copied into the ring transposed, in
  // one pass (the metric pass's transpose), instead of transposed by tfjs and then copied. While the
  // models run that is every pair of an NCHW candidate (measured: docs/DESIGN.md, "Measured").
  const onHeap = where === 'auto' && c.tensor && t?.perm ? wasmHeapView(c.tensor) : null;
  const tr = onHeap && t?.perm ? batchedTranspose(c.shape, t.perm) : null;
  const cT = c.tensor ? (t?.perm && !tr ? tf.transpose(c.tensor, t.perm) : c.tensor) : undefined;
  // Read from the measured values: host copies for failing pairs and outputs.
  const finish = (k: JobSums, v: JobView): Measured => {
    const m = k ? metricsFromPasses(v.memory, v.rOff, v.cOff, n, k.a, k.b, opts, r.shape) : (computeMetricsInMemory(v.memory, v.rOff, v.cOff, n, opts, r.shape) as MetricPass);
    const host = detail(m) ? { ref: new Float32Array(v.memory.buffer, v.rOff, n).slice(), cand: new Float32Array(v.memory.buffer, v.cOff, n).slice() } : undefined;
    return { m, ...(host ? { host } : {}) };
  };
  let job: { result: Promise<Measured> } | null = null;
  let cTKept = false;
  try {
    // 'thread' (the models are not running) and both on a shared tfjs heap: the worker reads
    // them where they are, and they are kept (a handle of our own on each) until it is done.
    // Not while the models run: the worker's reads of the heap tfjs is writing slow tfjs down
    // far more than the copy costs (cache lines going back and forth between the cores).
    const rv = where === 'thread' && r.tensor && cT ? wasmHeapView(r.tensor) : null;
    const cv = rv && cT ? wasmHeapView(cT) : null;
    if (rv && cv && rv.memory === cv.memory && rv.memory.buffer instanceof SharedArrayBuffer) {
      const keep = [tf.keep(share(r.tensor!)), tf.keep(cT === c.tensor ? share(cT!) : cT!)];
      job = pool.trySubmitInPlace(rv.memory, rv.offset, cv.offset, n, opts.atol, opts.rtol, Infinity, (k, v) => {
        try {
          return finish(k, v);
        } finally {
          tf.dispose(keep);
        }
      });
      if (job) cTKept = true;
      else {
        keep[0]!.dispose();
        if (cT === c.tensor) keep[1]!.dispose();
      }
    }
    job ??= pool.trySubmit(
      n,
      opts.atol,
      opts.rtol,
      (rv, cv, put) => {
        put(rv, (r.tensor && wasmHeapView(r.tensor)) || hostValues(r));
        if (tr && onHeap) put(cv, { memory: onHeap.memory, offset: onHeap.offset, transpose: tr });
        else if (cT) put(cv, wasmHeapView(cT) ?? (cT.dataSync() as Float32Array));
        else put(cv, applyTransform(c.data!, r.shape, c.shape, t));
      },
      // Runs on the main thread once the worker is done (or has failed: then the pass is done
      // here, from the copies), while the copies are still in the ring.
      finish,
    );
  } finally {
    if (cT && cT !== c.tensor && !cTKept) cT.dispose();
  }
  return job ?? now();
}

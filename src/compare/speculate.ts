import { numElements } from '../core/tensor.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { Transform } from './align/index.js';
import { SampleCache, chooseTransform, normaliseName as norm, pairKey, sampleActivation } from './align/index.js';
import { wasmHeapView } from './device.js';
import type { Held } from './store.js';
import { hasValues } from './store.js';

/**
 * Numeric pairs guessed while both models run, so that activations whose names pair with
 * nothing need not all be held until alignment.
 *
 * As each activation arrives (on either side), its sampled values are scored against the
 * other side's activations held so far: the same scores numeric alignment computes later,
 * through the same SampleCache. When some match it strongly (at most MAX_GUESSES of them), each
 * such pair is measured at once, while both values are at hand. A strong pair (x, o) also says
 * where the two runs are in step: alignment is monotone, so activations before x and before o
 * pair with each other, if at all. Those of them that were measured already are let go (their
 * samples stay, for alignment).
 *
 * An activation bitwise equal to one of its inputs of the same shape (a ReLU after a ReLU, the
 * Minimum and Maximum of a clip_by_value that clips nothing, an Identity) is an alias of it:
 * any pair it is in has the same values, so the same measurement, as the pair with the input
 * in its place. Pairs are measured once per pair of alias classes, and alignment's pair of
 * two aliases takes that measurement. Without this, runs of look-alikes (faceres' ReLU6 is
 * Relu, Minimum, Maximum, all equal) had their middle pairs let go unmeasured, and both models
 * ran again to measure them. Only with `aliases` on: a per-tensor tolerance or check would
 * make the same values measure differently under another name.
 *
 * These are guesses: alignment still decides, from the same samples. A pair it makes that was
 * guessed (under the same transform) takes the guess's measurement; a pair whose values were let
 * go is measured by the second run of both models that pairs past the hold budget already need.
 * So the Result is the same as with every activation held; only time and memory differ.
 */
export const MAX_GUESSES = 4;

export type Side = 'reference' | 'candidate';

interface Guess<M> {
  transform: Transform;
  result: Promise<M>;
}

interface SideState {
  /** Activations that may still be matched, by element count. */
  byCount: Map<number, Held[]>;
  position: Map<Held, number>;
  /** Every activation so far, by name without ':0' (to find an alias's input). */
  byName: Map<string, Held>;
  /** Activations measured against some activation of the other side and not let go yet. */
  measured: Map<Held, number>;
  /** Measured activations before this position may go. */
  frontier: number;
}

function transformKey(t: Transform | undefined): string {
  return `${t?.perm?.join(',') ?? ''}|${t?.reshape ? 'r' : ''}`;
}

function count(h: Held): number {
  return numElements(h.shape);
}

/** The values of a held activation, as a view of the wasm heap where they are there (no tfjs op may run while it is used). */
function valuesOf(h: Held): Float32Array | undefined {
  if (h.data) return h.data;
  if (!h.tensor || h.tensor.isDisposed) return undefined;
  const v = wasmHeapView(h.tensor);
  return v ? new Float32Array(v.memory.buffer, v.offset, h.tensor.size) : (h.tensor.dataSync() as Float32Array);
}

export class Speculator<M> {
  /** Also read by alignment afterwards, so each activation's samples are gathered once. */
  readonly samples = new SampleCache();
  private readonly guesses = new Map<string, Guess<M>[]>();
  private readonly sides: Record<Side, SideState> = { reference: newSide(), candidate: newSide() };
  /** The highest similarity each activation was measured at (in a guessed pair). */
  private readonly bestSim = new Map<Held, number>();
  /** Pairs measured, and activations let go early. */
  guessed = 0;
  released = 0;

  /** The activation each alias stands for (the first of its class), by name without ':0', per side. */
  private readonly canonical: Record<Side, Map<string, string>> = { reference: new Map(), candidate: new Map() };
  /** Activations found to be aliases. */
  aliased = 0;

  /**
   * `pinned`: activations never let go early. `aliases`: whether a pair may take the
   * measurement of a pair of its aliases (not with per-tensor tolerances or checks).
   */
  constructor(
    private readonly pinned: (h: Held, side: Side) => boolean = () => false,
    private readonly aliases = true,
  ) {}

  /** The measurement guessed for this pair (or a pair of its aliases) under this transform, if any. */
  take(reference: string, candidate: string, t: Transform | undefined): Promise<M> | undefined {
    return this.guessFor(this.canonicalName(reference, 'reference'), this.canonicalName(candidate, 'candidate'), t)?.result;
  }

  private canonicalName(name: string, side: Side): string {
    const n = norm(name);
    return this.canonical[side].get(n) ?? n;
  }

  private guessFor(reference: string, candidate: string, t: Transform | undefined): Guess<M> | undefined {
    const k = transformKey(t);
    return this.guesses.get(pairKey(reference, candidate))?.find((g) => transformKey(g.transform) === k);
  }

  /**
   * The input of x that x is bitwise equal to (same shape), if any; `xData` is x's values.
   * Pinned activations (model outputs) are nobody's alias: an output's pair is measured with
   * more detail (top-k, histogram, worst elements) than the same values elsewhere.
   */
  private aliasOf(x: Held, xData: Float32Array, side: Side): Held | undefined {
    if (this.pinned(x, side)) return undefined;
    const me = this.sides[side];
    for (const name of x.producedFrom) {
      const y = me.byName.get(norm(name));
      if (!y || y === x || this.pinned(y, side) || y.shape.length !== x.shape.length || y.shape.some((d, i) => d !== x.shape[i])) continue;
      const yData = valuesOf(y);
      if (!yData || yData.length !== xData.length) continue;
      // What scoring reads first rules most inputs out: the first sampled values.
      const ys = this.samples.gathered(y, side);
      const xs = this.samples.gathered(x, side);
      if (ys && xs && !bytesOf(ys).equals(bytesOf(xs))) continue;
      if (bytesOf(yData).equals(bytesOf(xData))) return y;
    }
    return undefined;
  }

  /**
   * Activation `x` of `side`, just produced (its values in `t`, which the caller owns and may
   * hold in `x`), at `position` in its side's execution order. `measure(r, c, cValues, transform)`
   * measures a pair; `release(h)` lets an activation's values go. Returns the activations of
   * the other side that x matched strongly and was measured against.
   */
  async guess(
    side: Side,
    x: Held,
    t: tf.Tensor,
    position: number,
    measure: (r: Held, c: Held, cValues: { tensor?: tf.Tensor; data?: Float32Array; shape: number[] }, transform: Transform) => Promise<{ result: Promise<M> } | undefined>,
    release: (h: Held) => void,
  ): Promise<Held[]> {
    const me = this.sides[side];
    const other = this.sides[side === 'reference' ? 'candidate' : 'reference'];
    const n = t.size;
    const view = wasmHeapView(t);
    const strong: { o: Held; t: Transform; sim: number }[] = [];
    {
      // No tfjs op runs while these views are out (a heap growth would detach them).
      const xData = view ? new Float32Array(view.memory.buffer, view.offset, n) : ((await t.data()) as Float32Array);
      const had = x.data;
      x.data = xData;
      try {
        this.samples.prime(x, side);
        const y = this.aliases ? this.aliasOf(x, xData, side) : undefined;
        if (y) {
          this.canonical[side].set(norm(x.name), this.canonicalName(y.name, side));
          this.aliased++;
        }
        for (const o of other.byCount.get(n) ?? []) {
          const had2 = o.data;
          const od = valuesOf(o);
          if (!od) continue;
          o.data = od;
          try {
            const bt = side === 'reference' ? chooseTransform(x, o, undefined, this.samples, true) : chooseTransform(o, x, undefined, this.samples, true);
            if (bt) strong.push({ o, t: bt.t, sim: bt.sim });
          } finally {
            if (had2) o.data = had2;
            else delete o.data;
          }
        }
      } finally {
        if (had) x.data = had;
        else delete x.data;
      }
    }
    me.position.set(x, position);
    me.byName.set(norm(x.name), x);
    const same = me.byCount.get(n);
    if (same) same.push(x);
    else me.byCount.set(n, [x]);
    // Nothing to measure against, or too many look-alikes (constant tensors): alignment decides.
    // Aliases of one activation count once (their pairs are measured once).
    const otherSide: Side = side === 'reference' ? 'candidate' : 'reference';
    const classes = new Set(strong.map((s) => `${this.canonicalName(s.o.name, otherSide)}|${transformKey(s.t)}`));
    if (!strong.length || classes.size > MAX_GUESSES) return [];
    // A look-alike is not measured: a match less similar than x's best one, or than one its
    // partner was measured in already (a ReLU's output and the Add before it; a bias add and
    // the depthwise convolution after it). Alignment scores them all the same; a pair it makes
    // that was not measured is measured after the runs (x stays held: it was measured with
    // nothing), or by the second run if its values went.
    const best = Math.max(...strong.map((s) => s.sim));
    const chosen = strong.filter((s) => s.sim >= best && s.sim >= (this.bestSim.get(s.o) ?? 0));
    const xValues = { tensor: t, shape: x.shape };
    // Measured from `t` whatever x holds (past the hold budget, only samples).
    const lent = side === 'reference' && !hasValues(x as Held | undefined);
    const holder: Held = x;
    if (lent) holder.tensor = t;
    const matched: Held[] = [];
    try {
      for (const s of chosen) {
        const [r, c] = side === 'reference' ? [x, s.o] : [s.o, x];
        const rc = this.canonicalName(r.name, 'reference');
        const cc = this.canonicalName(c.name, 'candidate');
        // Measured already as a pair of their aliases: the same values, so nothing to measure.
        if (!this.guessFor(rc, cc, s.t)) {
          const job = side === 'reference' ? await measure(x, s.o, s.o, s.t) : await measure(s.o, x, xValues, s.t);
          if (!job) continue;
          const k = pairKey(rc, cc);
          this.guesses.set(k, [...(this.guesses.get(k) ?? []), { transform: s.t, result: job.result }]);
          this.guessed++;
        }
        if (!this.pinned(s.o, side === 'reference' ? 'candidate' : 'reference')) other.measured.set(s.o, other.position.get(s.o)!);
        if (!this.pinned(x, side)) me.measured.set(x, position);
        matched.push(s.o);
        this.bestSim.set(s.o, Math.max(s.sim, this.bestSim.get(s.o) ?? 0));
        this.bestSim.set(x, Math.max(s.sim, this.bestSim.get(x) ?? 0));
      }
    } finally {
      if (lent) delete holder.tensor;
    }
    if (!matched.length) return [];
    // In step at (x, the earliest match): what was measured before either may go.
    me.frontier = Math.max(me.frontier, position);
    other.frontier = Math.max(other.frontier, Math.min(...matched.map((o) => other.position.get(o)!)));
    this.letGo(me, side, release);
    this.letGo(other, side === 'reference' ? 'candidate' : 'reference', release);
    return matched;
  }

  private letGo(s: SideState, side: Side, release: (h: Held) => void): void {
    for (const [h, pos] of s.measured) {
      if (pos >= s.frontier) continue;
      s.measured.delete(h);
      const data = valuesOf(h);
      if (!data) continue;
      // What scoring gathered already is not read again (the same positions).
      h.samples = sampleActivation(data, h.shape, side, (p) => this.samples.gathered(h, side, p));
      release(h);
      this.released++;
      const list = s.byCount.get(count(h));
      if (list) {
        const i = list.indexOf(h);
        if (i >= 0) list.splice(i, 1);
      }
    }
  }
}

/** The bytes of a float array (compared with memcmp: bitwise, so -0 and NaN payloads count). */
function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function newSide(): SideState {
  return { byCount: new Map(), byName: new Map(), position: new Map(), measured: new Map(), frontier: 0 };
}

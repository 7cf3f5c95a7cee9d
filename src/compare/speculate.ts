import type * as tf from '@tensorflow/tfjs-core';
import type { Transform } from './align.js';
import { SampleCache, pairKey, sampleActivation, strongTransform } from './align.js';
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
  /** Activations measured against some activation of the other side and not let go yet. */
  measured: Map<Held, number>;
  /** Measured activations before this position may go. */
  frontier: number;
}

function transformKey(t: Transform | undefined): string {
  return `${t?.perm?.join(',') ?? ''}|${t?.reshape ? 'r' : ''}`;
}

function count(h: Held): number {
  return h.shape.reduce((x, y) => x * y, 1);
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

  /** `pinned`: activations never let go early. */
  constructor(private readonly pinned: (h: Held, side: Side) => boolean = () => false) {}

  /** The measurement guessed for this pair under this transform, if any. */
  take(reference: string, candidate: string, t: Transform | undefined): Promise<M> | undefined {
    const k = transformKey(t);
    return this.guesses.get(pairKey(reference, candidate))?.find((g) => transformKey(g.transform) === k)?.result;
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
        for (const o of other.byCount.get(n) ?? []) {
          const had2 = o.data;
          const od = valuesOf(o);
          if (!od) continue;
          o.data = od;
          try {
            const bt = side === 'reference' ? strongTransform(x, o, this.samples) : strongTransform(o, x, this.samples);
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
    const same = me.byCount.get(n);
    if (same) same.push(x);
    else me.byCount.set(n, [x]);
    // Nothing to measure against, or too many look-alikes (constant tensors): alignment decides.
    if (!strong.length || strong.length > MAX_GUESSES) return [];
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
        const job = side === 'reference' ? await measure(x, s.o, s.o, s.t) : await measure(s.o, x, xValues, s.t);
        if (!job) continue;
        const [r, c] = side === 'reference' ? [x, s.o] : [s.o, x];
        const k = pairKey(r.name, c.name);
        this.guesses.set(k, [...(this.guesses.get(k) ?? []), { transform: s.t, result: job.result }]);
        if (!this.pinned(s.o, side === 'reference' ? 'candidate' : 'reference')) other.measured.set(s.o, other.position.get(s.o)!);
        if (!this.pinned(x, side)) me.measured.set(x, position);
        matched.push(s.o);
        this.bestSim.set(s.o, Math.max(s.sim, this.bestSim.get(s.o) ?? 0));
        this.bestSim.set(x, Math.max(s.sim, this.bestSim.get(x) ?? 0));
        this.guessed++;
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

function newSide(): SideState {
  return { byCount: new Map(), position: new Map(), measured: new Map(), frontier: 0 };
}

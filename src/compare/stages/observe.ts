import { tf } from '../../backend/tf.js';
import { stripPort as norm } from '../../core/names.js';
import type { Activation, Runner } from '../../core/runner.js';
import type { ActInfo, AlignedPair, Alignment, Strategy, Transform } from '../align/index.js';
import { EarlyPairs, candidateTransforms, chooseTransform, isPairable, pairKey } from '../align/index.js';
import { wasmHeapView } from '../device.js';
import type { Side } from '../speculate.js';
import type { Speculator } from '../speculate.js';
import type { Held, Holder, PairValues } from '../store.js';
import { withHeapViews } from '../store.js';
import type { BoundFeeds } from './bind.js';
import type { MeasureContext, Measurement } from './measure-pair.js';
import { measurePair } from './measure-pair.js';

/**
 * Stage 2, observe: both models run side by side on the bound feeds, their activations streamed.
 * Pairs known before alignment (map entries, exact names; every pair after the first iteration)
 * are measured as both sides produce them, numeric pairs may be guessed by their values
 * (speculate.ts), and everything else is held in the store for alignment.
 */

export interface SideRun {
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
export interface Decision {
  ref: Held;
  strategy: Strategy;
  transform?: Transform;
  /** From an earlier iteration's alignment (else decided now, and passed to align()). */
  known: boolean;
}

export interface Decider {
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

/** What runBoth() runs and what it does with each activation. */
export interface RunBothOptions {
  refFeeds: Map<string, tf.Tensor>;
  candFeeds: Map<string, tf.Tensor>;
  /** Holds what is not measured at once. */
  store: Holder;
  /** Which pairs are known before alignment. */
  makeDecider: (ref: SideRun) => Decider;
  /** Measures a pair known before alignment, once both sides have produced it. */
  onPair: (d: Decision, c: Held, values: PairValues) => Promise<void>;
  /** A first run, alignment to come: past the hold budget only samples are kept. */
  sampling?: boolean;
  /** Matches an activation no name pairs by its values (see speculate.ts). */
  guess?: (side: Side, x: Held, t: tf.Tensor, position: number) => Promise<Held[]>;
  /** Ends both runs early once it says so (the second run, once what it is for is measured). */
  stop?: () => boolean;
}

/**
 * Runs reference and candidate side by side (in one thread, alternating), recording every
 * activation. A candidate activation whose pair is known before alignment (map entries and
 * exact names; every pair after the first iteration) is measured as soon as both sides have
 * produced it, and both tensors are let go: for conversions that keep names, memory stays
 * near that of the bare runs and the SIMD metric pass reads values still in cache. Everything
 * else is held in `store` for alignment.
 *
 * The loop pulls from the candidate until one of its activations waits for a reference
 * activation by name, then from the reference until it stops waiting (SideBySide says how
 * each activation is handled).
 */
export async function runBoth(reference: Runner, candidate: Runner, o: RunBothOptions): Promise<{ ref: SideRun; cand: SideRun }> {
  const run = new SideBySide(o);
  const refIt = (reference.run(o.refFeeds, { record: 'all' }) as AsyncIterable<Activation>)[Symbol.asyncIterator]();
  const candIt = (candidate.run(o.candFeeds, { record: 'all' }) as AsyncIterable<Activation>)[Symbol.asyncIterator]();
  try {
    while ((!run.refDone || !run.candDone) && !o.stop?.()) {
      const fromRef = run.candDone || (!run.refDone && run.pending.size > 0);
      const t0 = performance.now();
      const next = fromRef ? await refIt.next() : await candIt.next();
      (fromRef ? run.ref : run.cand).ms += performance.now() - t0;
      if (next.done) {
        if (fromRef) await run.referenceEnded();
        else run.candDone = true;
        continue;
      }
      const a = next.value;
      let owned = false;
      try {
        owned = fromRef ? await run.onReference(a) : await run.onCandidate(a);
      } finally {
        if (!owned) a.tensor.dispose();
      }
    }
  } finally {
    // On an error, let both runners release what they hold.
    if (!run.refDone) await refIt.return?.();
    if (!run.candDone) await candIt.return?.();
  }
  return { ref: run.ref, cand: run.cand };
}

/** The state of two runs side by side, and what is done with each activation as it arrives. */
class SideBySide {
  readonly ref: SideRun = { acts: [], byName: new Map(), ms: 0 };
  readonly cand: SideRun = { acts: [], byName: new Map(), ms: 0 };
  refDone = false;
  candDone = false;
  /** Candidate activations waiting for a reference activation to arrive, by that name. */
  readonly waiting = new Map<string, Set<Held>>();
  readonly pending = new Set<Held>();
  /** How many reference activations there were when each pending candidate started waiting. */
  private readonly since = new Map<Held, number>();
  private readonly readsLeft = new Map<string, number>();
  /** Pairs made by names (or the map) so far: while there are none, values say where the runs are in step. */
  private named = 0;
  /** Pending candidates not guessed yet (names were pairing when they came), and their positions. */
  private readonly unguessed = new Map<Held, number>();
  private readonly decider: Decider;
  private readonly sampling: boolean;

  constructor(private readonly o: RunBothOptions) {
    this.decider = o.makeDecider(this.ref);
    this.sampling = o.sampling ?? false;
  }

  /** Measures the pairs known for candidate `c` now, letting go of reference values every pair has read; false when there are none. */
  private async settle(c: Held, values: PairValues): Promise<boolean> {
    const ds = this.decider.decide(c);
    if (!ds.length) return false;
    for (const d of ds) {
      if (!d.known) this.named++;
      await this.o.onPair(d, c, values);
      const rn = norm(d.ref.name);
      const left = (this.readsLeft.get(rn) ?? this.decider.partners(rn)) - 1;
      this.readsLeft.set(rn, left);
      // Read by every pair that can read it: let it go (own error re-runs the reference if it needs it).
      if (left <= 0) this.o.store.release(d.ref);
    }
    return true;
  }

  /** The reference activations candidate `c` still waits for. */
  private missing(c: ActInfo): string[] {
    return this.refDone ? [] : this.decider.wanted(c).filter((n) => !this.ref.byName.has(n));
  }

  /** A new activation of `side`, recorded (integer values read: alignment and own error use them). */
  private async record(side: SideRun, a: Activation): Promise<Held> {
    const info = actInfo(a, side.acts.length);
    addAct(side, info);
    if (a.tensor.dtype === 'int32' || a.tensor.dtype === 'bool') info.intData = (await a.tensor.data()) as Int32Array | Uint8Array;
    return info;
  }

  private guessable(info: Held, side: Side): boolean {
    return !!this.o.guess && this.sampling && isPairable(info, side);
  }

  /** The reference has ended: what the pending candidates waited for will not come; decide with what there is. */
  async referenceEnded(): Promise<void> {
    this.refDone = true;
    for (const c of this.pending) if (await this.settle(c, c)) this.o.store.release(c);
    this.pending.clear();
    this.waiting.clear();
  }

  /** A reference activation: held (or sampled), guessed, and the candidates waiting for it settled. True: the store owns its tensor. */
  async onReference(a: Activation): Promise<boolean> {
    const { store, guess } = this.o;
    const info = await this.record(this.ref, a);
    const float = a.tensor.dtype === 'float32';
    const pairable = float && isPairable(info, 'reference');
    let owned = false;
    // With `sampling` (alignment to come), past the hold budget only samples are kept.
    if (float && this.decider.keeps(norm(info.name), 'reference')) owned = await store.hold(info, a.tensor, this.sampling && pairable ? 'reference' : undefined);
    // Whatever its dtype: a candidate waiting for this name can be decided now.
    const ws = this.waiting.get(norm(info.name));
    // What no name pairs is matched by its values as it comes (see speculate.ts). While names
    // pair nothing, a candidate it matches waits no longer for a name: its counterpart is here.
    if (guess && this.sampling && pairable && !ws) {
      for (const c of await guess('reference', info, a.tensor, this.ref.acts.length - 1)) {
        if (this.named > 0 || !this.pending.delete(c)) continue;
        for (const n of this.decider.wanted(c)) this.waiting.get(n)?.delete(c);
      }
    }
    if (ws) await this.settleWaiting(norm(info.name), ws);
    await this.stopWaitingTooLong();
    return owned;
  }

  /** The candidates that waited for reference `name`, settled if nothing else is missing. */
  private async settleWaiting(name: string, ws: Set<Held>): Promise<void> {
    this.waiting.delete(name);
    for (const c of ws) {
      if (!this.pending.has(c) || this.missing(c).length) continue;
      this.pending.delete(c);
      this.unguessed.delete(c);
      if (await this.settle(c, c)) this.o.store.release(c);
    }
  }

  /**
   * A candidate waiting for a name the reference may never produce must not make the whole
   * reference run ahead and be held: past a bound it is left to alignment (which pairs it all
   * the same if the name comes later; only its early release is lost).
   */
  private async stopWaitingTooLong(): Promise<void> {
    const { guess } = this.o;
    for (const c of this.pending) {
      if (this.decider.patient || this.ref.acts.length - (this.since.get(c) ?? 0) <= LOOKAHEAD) break;
      this.pending.delete(c);
      // Its guess was put off while it waited for its name: made now, if its values are held.
      const at = this.unguessed.get(c);
      if (at !== undefined && guess && c.tensor && !c.tensor.isDisposed) await guess('candidate', c, c.tensor, at);
      this.unguessed.delete(c);
    }
  }

  /**
   * A candidate activation: measured at once when its pairs are known and their reference
   * values are here, else held (for alignment, or until its reference comes). True: the store
   * owns its tensor.
   */
  async onCandidate(a: Activation): Promise<boolean> {
    const { store, guess } = this.o;
    const info = await this.record(this.cand, a);
    if (a.tensor.dtype !== 'float32') return false;
    const miss = this.missing(info);
    const sample = this.sampling && isPairable(info, 'candidate') ? 'candidate' : undefined;
    const position = this.cand.acts.length - 1;
    if (!miss.length) {
      // Measured from the activation itself; held only when alignment must decide.
      if (await this.settle(info, { tensor: a.tensor, shape: info.shape })) return false;
      if (!this.decider.keeps(norm(info.name), 'candidate')) return false;
      const owned = await store.hold(info, a.tensor, sample);
      if (guess && this.guessable(info, 'candidate')) await guess('candidate', info, a.tensor, position);
      return owned;
    }
    const owned = await store.hold(info, a.tensor, sample);
    // Matched by its values to a reference activation already here: no name to wait for.
    // Once names pair, its name will likely come: the guess waits until it has not.
    if (guess && this.guessable(info, 'candidate')) {
      if (this.named > 0 && owned) this.unguessed.set(info, position);
      else if ((await guess('candidate', info, a.tensor, position)).length && this.named === 0) return owned;
    }
    this.pending.add(info);
    this.since.set(info, this.ref.acts.length);
    for (const n of miss) this.waiting.set(n, (this.waiting.get(n) ?? new Set()).add(info));
    return owned;
  }
}

/**
 * Which reference activations a candidate activation pairs with before alignment has run:
 * from the alignment of an earlier iteration (`known`), else map entries and exact names.
 */
export function pairDecider(alignment: Alignment | undefined, map: Alignment | undefined): (ref: SideRun) => Decider {
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


/** What observing both runs gives the later stages. */
export interface Observation {
  ref: SideRun;
  cand: SideRun;
  /** Measurements of the pairs measured while both ran, by pairKey. */
  measured: Map<string, Promise<Measurement>>;
  /** The pairs decided before alignment (map entries and exact names), for align(). */
  decided: AlignedPair[];
  /** The guesses made while both ran (none with a known alignment or the plain engine). */
  spec?: Speculator<Measurement>;
  /** Time spent measuring while the models ran. */
  inRunMs: number;
  /** Measures a pair known before alignment (for a second run). */
  onPair: RunBothOptions['onPair'];
}

/** How observe() runs. */
export interface ObserveOptions {
  /** The alignment of an earlier iteration: every pair is known. */
  alignment?: Alignment;
  ctx: MeasureContext;
  /** Model outputs and mapped names: never let go early (their pairs need detail, or the other side). */
  pinned: { reference: Set<string>; candidate: Set<string> };
}

/** Runs both models on `feeds`, measuring what can be measured while they run. */
export async function observe(reference: Runner, candidate: Runner, feeds: BoundFeeds, store: Holder, o: ObserveOptions): Promise<Observation> {
  const { ctx, alignment } = o;
  const { opts } = ctx;
  const measured = new Map<string, Promise<Measurement>>();
  const decided: AlignedPair[] = [];
  const clock = { inRunMs: 0 };
  const onPair = async (d: Decision, info: Held, values: PairValues): Promise<void> => {
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
    const m = await measurePair(p, d.ref, info, values, ctx);
    if (m) measured.set(pairKey(p.reference, p.candidate), m.result);
    clock.inRunMs += performance.now() - tPair;
  };
  // Names that pair with nothing: pairs guessed and measured while both run.
  const pinned = (h: Held, side: Side) => o.pinned[side].has(norm(h.name));
  const guesser = !alignment && !opts.namesOnly ? ctx.engine.guesser<Measurement>(pinned, !opts.perTensor && !(opts.checks ?? []).some((c) => c.tensor)) : undefined;
  const spec = guesser?.speculator;
  const guess = guesser && spec
    ? async (side: Side, x: Held, t: tf.Tensor, position: number): Promise<Held[]> => {
        // Small activations cost less to hold than to guess (and are left to alignment).
        if (t.size < guesser.minElements) return [];
        const tGuess = performance.now();
        try {
          return await spec.guess(
            side,
            x,
            t,
            position,
            (r, c, cValues, transform) => {
              const p: AlignedPair = { reference: r.name, candidate: c.name, strategy: 'numeric', confidence: 1, ...(transform.perm || transform.reshape ? { transform } : {}) };
              return measurePair(p, r, c, cValues, ctx, 'auto', false);
            },
            (h) => store.release(h),
          );
        } finally {
          clock.inRunMs += performance.now() - tGuess;
        }
      }
    : undefined;
  const { ref, cand } = await runBoth(reference, candidate, {
    refFeeds: feeds.refFeeds,
    candFeeds: feeds.candFeeds,
    store,
    makeDecider: pairDecider(alignment, opts.map),
    onPair,
    sampling: !alignment,
    guess,
  });
  return { ref, cand, measured, decided, ...(spec ? { spec } : {}), inRunMs: clock.inRunMs, onPair };
}

/**
 * Both models run again with `pairs` known, measuring them as they come (with `onPair`, into
 * the same measurements); they stop once `done()` says so.
 */
export function observeAgain(reference: Runner, candidate: Runner, feeds: BoundFeeds, store: Holder, pairs: AlignedPair[], onPair: RunBothOptions['onPair'], done: () => boolean): Promise<{ ref: SideRun; cand: SideRun }> {
  return runBoth(reference, candidate, {
    refFeeds: feeds.refFeeds,
    candFeeds: feeds.candFeeds,
    store,
    makeDecider: pairDecider({ version: 1, pairs, unmatched: { reference: [], candidate: [] } }, undefined),
    onPair,
    stop: done,
  });
}

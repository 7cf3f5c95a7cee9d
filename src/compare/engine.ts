import type { Transform } from './align/index.js';
import type { MetricOptions, MetricPass } from './metrics.js';
import { releaseOwnMemory } from './simd/metric-pass.js';
import { MetricsPool } from './simd/pool.js';
import type { Side } from './speculate.js';
import { Speculator } from './speculate.js';
import type { Held, Holder, Measured, PairValues, Where } from './store.js';
import { ActivationStore, HostStore, measure, measureLater } from './store.js';
import type { EngineConfig } from './engine-config.js';
import { DEFAULT_ENGINE, engineConfigFromEnv } from './engine-config.js';

export type { EngineConfig } from './engine-config.js';
export { DEFAULT_ENGINE, engineConfigFromEnv } from './engine-config.js';

/**
 * The measuring engine: how activations are held between the runs, where each pair's metric
 * pass runs, and whether pairs are guessed while the models run. The stages ask it for these
 * and nothing else; it changes how fast a comparison is and how much memory it takes, never
 * its Result (test/compare/golden.test.ts runs every golden through both engines).
 *
 * - PLAIN_ENGINE is the definition: every activation copied to the host and held until
 *   alignment, every pair measured at once on this thread, nothing guessed.
 * - fastEngine(config): values left in place on the tfjs wasm heap (read there by the SIMD metric
 *   pass), a hold budget past which only samples are kept (those pairs are measured in a second
 *   run), the metric pass on a second thread while the models run, numeric pairs guessed as
 *   activations arrive (speculate.ts).
 */
export interface MeasureEngine {
  readonly name: 'plain' | 'fast';
  /** Before a comparison (the fast engine starts its metrics thread, so it is up when pairs come). */
  start(): void;
  /** A holder for one run of both models: what it holds is let go by release() or its dispose(). */
  holder(): Holder;
  /**
   * The metrics of reference `r` against candidate values `c` under transform `t`: at once, or
   * (the fast engine, where it says) later on the metrics thread. `detail(m)` says whether host
   * copies are wanted too (histograms, worst elements). `where` is a hint the plain engine ignores.
   */
  measure(r: Held, c: PairValues, t: Transform | undefined, opts: MetricOptions, detail: (m: MetricPass) => boolean, where?: Where): { result: Promise<Measured> };
  /**
   * A first run's guesser of numeric pairs (speculate.ts), or undefined: the plain engine never
   * guesses. `pinned` says which activations must never be let go early; `aliases` whether alias
   * classes may share a measurement (not with per-tensor tolerances or checks).
   */
  guesser<M>(pinned: (h: Held, side: Side) => boolean, aliases: boolean): Guesser<M> | undefined;
  /** After a comparison: the memory the metric pass took for host arrays is let go. */
  dispose(): void;
}

/** Guesses while both models run, for activations of at least `minElements` elements. */
export interface Guesser<M> {
  speculator: Speculator<M>;
  minElements: number;
}

/** The definition: host copies, one thread, nothing guessed. */
export const PLAIN_ENGINE: MeasureEngine = {
  name: 'plain',
  start() {},
  holder: () => new HostStore(),
  measure: (r, c, t, opts, detail) => ({ result: Promise.resolve(measure(r, c, t, opts, detail)) }),
  guesser: () => undefined,
  dispose: releaseOwnMemory,
};

/** The fast engine with these settings. */
export function fastEngine(config: EngineConfig = DEFAULT_ENGINE): MeasureEngine {
  return {
    name: 'fast',
    start() {
      if (config.metricsThread) MetricsPool.get();
    },
    holder: () => new ActivationStore(config),
    measure: (r, c, t, opts, detail, where = 'auto') => measureLater(r, c, t, opts, detail, where, config.metricsThread),
    guesser: <M>(pinned: (h: Held, side: Side) => boolean, aliases: boolean) =>
      config.guess ? { speculator: new Speculator<M>(pinned, aliases), minElements: config.guessMinElements } : undefined,
    dispose: releaseOwnMemory,
  };
}

/**
 * The engine the environment asks for: PARITY_ENGINE=plain the definition, else the fast one
 * with the settings of engineConfigFromEnv.
 */
export function engineFromEnv(env: NodeJS.ProcessEnv = process.env): MeasureEngine {
  return env.PARITY_ENGINE === 'plain' ? PLAIN_ENGINE : fastEngine(engineConfigFromEnv(env));
}

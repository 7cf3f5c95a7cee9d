/**
 * The fast engine's settings. Read from the environment once per comparison (engineFromEnv),
 * here and nowhere else.
 */
export interface EngineConfig {
  /**
   * Guess numeric pairs by their values while both models run (speculate.ts), measuring them and
   * letting values go once the runs are past them (PARITY_GUESS=0: off).
   */
  guess: boolean;
  /** Activations below this many elements are not guessed, only held (PARITY_GUESS_MIN; default 4096). */
  guessMinElements: number;
  /**
   * Bytes of values (device and host) held for alignment; past it, activations are kept as samples
   * only and their pairs measured in a second run of both models (PARITY_HOLD_BYTES; 0: always so).
   */
  holdBytes: number;
  /** Share of the wasm heap held activations may take; past it they are copied to the host (PARITY_DEVICE_BYTES). */
  deviceBytes: number;
  /** Run the metric pass on a second thread when there is one (PARITY_METRICS_THREAD=0: off). */
  metricsThread: boolean;
}

/** Default share of the wasm heap (4 GiB at most) that held activations may take. */
const DEFAULT_DEVICE_BYTES = 1024 * 1024 * 1024;
/** Default bytes of values a comparison holds for alignment. */
const DEFAULT_HOLD_BYTES = 2 * 1024 * 1024 * 1024;

export const DEFAULT_ENGINE: Readonly<EngineConfig> = {
  guess: true,
  guessMinElements: 4096,
  holdBytes: DEFAULT_HOLD_BYTES,
  deviceBytes: DEFAULT_DEVICE_BYTES,
  metricsThread: true,
};

/** A non-negative number from the environment variable `name`, else `fallback`. */
function envAmount(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = Number(env[name]);
  return env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/** The fast engine's settings the environment asks for (the defaults where it says nothing). */
export function engineConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  return {
    guess: env.PARITY_GUESS !== '0',
    guessMinElements: envAmount(env, 'PARITY_GUESS_MIN', DEFAULT_ENGINE.guessMinElements),
    holdBytes: envAmount(env, 'PARITY_HOLD_BYTES', DEFAULT_ENGINE.holdBytes),
    deviceBytes: envAmount(env, 'PARITY_DEVICE_BYTES', DEFAULT_ENGINE.deviceBytes),
    metricsThread: env.PARITY_METRICS_THREAD !== '0',
  };
}

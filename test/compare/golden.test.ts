import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetricsPool } from '../../src/compare/simd/pool.js';
import type { Result } from '../../src/compare/result.js';
import { compare } from '../../src/index.js';
import { renamedTfjsCopy } from '../../cases/gen/renamed.js';

/**
 * Golden Results: what the comparison of the committed cases/ models says, pinned before the
 * comparison's code moves. Timings, dates, paths, hashes and the backend's facts are stripped;
 * numbers are kept to 6 significant digits (the last bits of a sum may differ between the metric
 * pass on the metrics thread and on this one, never the 6th digit). Each is reproduced with the
 * performance machinery as it runs by default, switched off (the plain engine: nothing guessed,
 * no metrics thread) and pushed (every activation guessed, nothing held: pairs measured in a
 * second run). UPDATE_GOLDENS=1 writes them (only when the behaviour is meant to change).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const CASES = join(ROOT, 'cases', 'models');
const GOLDENS = join(import.meta.dirname, 'goldens');

function round(x: unknown): unknown {
  if (typeof x === 'number') return Number.isFinite(x) && x !== 0 && !Number.isInteger(x) ? Number(x.toPrecision(6)) : x;
  if (Array.isArray(x)) return x.map(round);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v)]));
  return x;
}

/** The Result without what changes from run to run or machine to machine. */
export function stable(r: Result): unknown {
  const strip = ({ path: _p, sha256: _s, bytes: _b, ...facts }: Result['reference']) => facts;
  const { startedAt: _a, timings: _t, backend: _k, fallbackKernels: _f, ...run } = r.run;
  const { version: _v, ...tool } = r.tool;
  // Through JSON, as the Result is written (Infinity becomes null).
  return round(JSON.parse(JSON.stringify({ ...r, tool, run, reference: strip(r.reference), candidate: strip(r.candidate) })));
}

const ENGINES: [string, Record<string, string | undefined>][] = [
  ['plain engine (the definition: host copies, one thread, nothing guessed)', { PARITY_ENGINE: 'plain' }],
  ['fast engine, defaults', {}],
  ['fast engine, nothing guessed and no metrics thread', { PARITY_GUESS: '0', PARITY_METRICS_THREAD: '0' }],
  ['fast engine, everything guessed and nothing held (pairs measured in a second run)', { PARITY_GUESS_MIN: '0', PARITY_HOLD_BYTES: '0' }],
];

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const keys = ['PARITY_ENGINE', 'PARITY_GUESS', 'PARITY_GUESS_MIN', 'PARITY_HOLD_BYTES', 'PARITY_METRICS_THREAD'];
  const before = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const k of keys) {
      if (v[k] === undefined) delete process.env[k];
      else process.env[k] = v[k];
    }
  };
  set(vars);
  // The metrics thread is started (or not) on first use: start it afresh under these settings.
  await MetricsPool.shutdown();
  try {
    return await fn();
  } finally {
    set(before);
    await MetricsPool.shutdown();
  }
}

const renamedDir = mkdtempSync(join(tmpdir(), 'golden-renamed-'));
const CASES_: [string, string, () => string][] = [
  ['cnn-keras', 'the CNN against its Keras conversion (scope pairs)', () => join(CASES, 'cnn.keras')],
  ['cnn-onnx', 'the CNN against its NCHW ONNX conversion (pairs through permutations)', () => join(CASES, 'cnn.onnx')],
  ['cnn-buggy-keras', 'the CNN against a buggy Keras conversion (first divergence, own error, root cause)', () => join(CASES, 'cnn-buggy.keras')],
  ['cnn-renamed-tfjs', 'the CNN against a tfjs copy whose names pair nothing (numeric alignment)', () => renamedTfjsCopy(join(CASES, 'cnn-tfjs', 'model.json'), renamedDir)],
];

describe('golden Results', () => {
  for (const [name, what, cand] of CASES_) {
    it(`${what}: the committed Result, with every engine`, async () => {
      const file = join(GOLDENS, `${name}.json`);
      const run = () => compare(join(CASES, 'cnn.pb'), cand(), { seed: 3 });
      if (process.env.UPDATE_GOLDENS === '1' || !existsSync(file)) {
        writeFileSync(file, JSON.stringify(stable(await withEnv({ PARITY_ENGINE: 'plain' }, run)), null, 1) + '\n');
      }
      const golden = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      // Every engine gives the golden Result; the plain one (the definition) and each fast one the same Result.
      const results = new Map<string, unknown>();
      for (const [engine, env] of ENGINES) {
        const r = stable(await withEnv(env, run));
        expect(r, engine).toEqual(golden);
        results.set(engine, r);
      }
      const [plain, ...fast] = [...results.values()];
      for (const r of fast) expect(r).toEqual(plain);
    });
  }
});

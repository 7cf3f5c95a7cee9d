import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ParityError, UnsupportedError } from '../../src/core/errors.js';

/**
 * Property: for any input, a reader returns a result or throws a one-line ParityError; never
 * another exception, a message over several lines, or a hang. Inputs are mutations of valid samples (bit flips, truncation,
 * splices, varint-ish bytes, huge numbers) plus random bytes, seeded so a failure replays.
 * Inputs that ever broke a reader are kept in test/fuzz/corpus/<reader>/ and replayed first.
 */

export const FUZZ_RUNS = Number(process.env.PARITY_FUZZ_RUNS ?? 2000);
/** Generous bound per read: a guard against hangs, not a speed assertion. */
export const PER_READ_MS = 5000;

const corpusRoot = join(import.meta.dirname, 'corpus');

export function corpus(reader: string): Uint8Array[] {
  const dir = join(corpusRoot, reader);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** Saves an input that broke a reader, so it is replayed by every later run (commit it). */
export function saveToCorpus(reader: string, bytes: Uint8Array): string {
  const dir = join(corpusRoot, reader);
  mkdirSync(dir, { recursive: true });
  const name = `crash-${Buffer.from(bytes.slice(0, 64)).toString('hex').slice(0, 16)}-${bytes.length}.bin`;
  writeFileSync(join(dir, name), bytes);
  return name;
}

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'overwrite'; at: number; bytes: Uint8Array } | { kind: 'duplicate'; from: number; len: number; at: number };

const interesting = fc.constantFrom(
  Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // max varint
  Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), // overlong varint
  Uint8Array.from([0xff, 0xff, 0xff, 0x7f]),
  Uint8Array.from([0, 0, 0, 0]),
  Uint8Array.from([0x7f, 0xf0, 0, 0, 0, 0, 0, 0]),
  new TextEncoder().encode('999999999999'),
  new TextEncoder().encode('-1'),
  new TextEncoder().encode('..'),
  new TextEncoder().encode('NaN'),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ maxLength: 16 }), interesting) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), interesting) }),
  fc.record({ kind: fc.constant('duplicate' as const), from: fc.nat(), len: fc.integer({ min: 1, max: 64 }), at: fc.nat() }),
);

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of ms) {
    const n = b.length;
    if (m.kind === 'flip' && n) {
      const i = m.at % n;
      b[i] = b[i]! ^ (1 << m.bit);
    } else if (m.kind === 'truncate') b = b.slice(0, n ? m.at % n : 0);
    else if (m.kind === 'insert') {
      const i = n ? m.at % (n + 1) : 0;
      b = Uint8Array.from([...b.slice(0, i), ...m.bytes, ...b.slice(i)]);
    } else if (m.kind === 'overwrite' && n) {
      const i = m.at % n;
      b.set(m.bytes.slice(0, n - i), i);
    } else if (m.kind === 'duplicate' && n) {
      const f = m.from % n;
      const piece = b.slice(f, f + m.len);
      const i = m.at % (n + 1);
      b = Uint8Array.from([...b.slice(0, i), ...piece, ...b.slice(i)]);
    }
  }
  return b;
}

/** Bytes derived from the valid samples by up to 4 mutations, or plain random bytes. */
export function fuzzInput(samples: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const fromSample = fc.tuple(fc.integer({ min: 0, max: Math.max(0, samples.length - 1) }), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([i, ms]) => mutate(samples[i] ?? new Uint8Array(), ms));
  return fc.oneof({ weight: 8, arbitrary: fromSample }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) });
}

/**
 * The one ParityError allowed over several lines: the list of what cannot run (the interpreter's
 * unsupported ops, a Keras model's unsupported layers), a one-line summary naming the file and the
 * count, then one indented line per op type or layer class with its nodes. It is a listing the
 * user works through, as `parity inspect` prints it, and its first line alone is a complete message.
 */
const UNSUPPORTED_LIST = /^[^\n]+:(\n {2}[^\n]+)+$/;

/** Why a ParityError's message is not an acceptable refusal, or undefined when it is. */
export function messageProblem(e: ParityError): string | undefined {
  if (!e.message.trim()) return 'an empty message';
  if (!e.message.includes('\n')) return undefined;
  if (e instanceof UnsupportedError && UNSUPPORTED_LIST.test(e.message)) return undefined;
  return `a message over ${e.message.split('\n').length} lines`;
}

export interface ReaderOutcome {
  ok: number;
  parityErrors: number;
}

/**
 * Checks the property over FUZZ_RUNS seeded inputs (plus the corpus). `read` may be async.
 * Returns how many inputs were read fine and how many were refused with a ParityError.
 */
export async function fuzzReader(name: string, samples: Uint8Array[], read: (bytes: Uint8Array) => unknown, seed = 42, runs = FUZZ_RUNS): Promise<ReaderOutcome> {
  const outcome: ReaderOutcome = { ok: 0, parityErrors: 0 };
  const check = async (bytes: Uint8Array) => {
    const t0 = performance.now();
    try {
      await read(bytes);
      outcome.ok++;
    } catch (e) {
      if (!(e instanceof ParityError)) {
        const saved = saveToCorpus(name, bytes);
        // Where it was thrown, so the fix can start there.
        const at = ((e as Error)?.stack ?? '').split('\n').find((l) => /\/src\//.test(l))?.trim() ?? '';
        throw new Error(`${name}: non-ParityError ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}${at ? ` (${at})` : ''} (input saved as corpus/${name}/${saved})`);
      }
      const problem = messageProblem(e);
      if (problem) {
        const saved = saveToCorpus(name, bytes);
        throw new Error(`${name}: ${e.constructor.name} with ${problem}: ${JSON.stringify(e.message.slice(0, 400))} (input saved as corpus/${name}/${saved})`);
      }
      outcome.parityErrors++;
    }
    const ms = performance.now() - t0;
    if (ms > PER_READ_MS) {
      const saved = saveToCorpus(name, bytes);
      throw new Error(`${name}: one read took ${ms.toFixed(0)} ms (input saved as corpus/${name}/${saved})`);
    }
  };
  for (const c of corpus(name)) await check(c);
  for (const s of samples) await check(s);
  await fc.assert(
    fc.asyncProperty(fuzzInput(samples), async (bytes) => {
      await check(bytes);
    }),
    { numRuns: runs, seed, endOnFailure: true },
  );
  expect(outcome.ok + outcome.parityErrors).toBeGreaterThanOrEqual(runs);
  return outcome;
}

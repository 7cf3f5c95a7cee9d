import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BackendName } from '../backend/index.js';
import { initBackend } from '../backend/index.js';
import { InputError, oneLine } from '../core/errors.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import type { InputSpec } from '../inputs/spec.js';
import { loadInputSpecFile, parseInputArg, parseShapeArg } from '../inputs/spec.js';
import { generateFeeds, inferIntRanges, loadFeeds, plannedDraws } from '../inputs/generate.js';
import { arc4State } from '../inputs/kernel/arc4.js';
import { MetricsPool } from '../compare/kernel/pool.js';
import { modelFiles, settled, statKey } from '../formats/files.js';

/** Options every command that runs a model accepts. */
export const RUN_OPTIONS = {
  seed: { type: 'string' },
  shape: { type: 'string', multiple: true },
  input: { type: 'string', multiple: true },
  'input-spec': { type: 'string' },
  inputs: { type: 'string' },
  backend: { type: 'string' },
  signature: { type: 'string' },
  'loop-activations': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

export const RUN_OPTIONS_USAGE = `  --seed N                 seed for generated inputs (default 0)
  --shape NAME:1x224x224x3 concrete shape for an input with unknown dims (repeatable)
  --input 'NAME=normal(0,1)' distribution of one input: uniform(lo,hi), normal(mean,std), constant(v),
                           int(lo,hi), bool(p), file(x.npy), or values as JSON: 'x=["a","b"]' (repeatable)
  --input-spec FILE        JSON/YAML file of per-input specs
  --inputs FEEDS.npz       use these inputs instead of generated ones
  --backend NAME           wasm | cpu | tensorflow (default: tensorflow when @tensorflow/tfjs-node loads, else wasm)
  --signature NAME         SavedModel signature (default serving_default)
  --loop-activations all|last  record every loop iteration (default) or only the last one
  -q, --quiet              no progress output`;

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** parseArgs with our error type: unknown options and missing values are usage errors (exit 2). */
export function parse(argv: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'], positionals: { min: number; max: number; usage: string }) {
  let res: { values: ParsedValues; positionals: string[] };
  try {
    res = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as unknown as { values: ParsedValues; positionals: string[] };
  } catch (e) {
    // Node's message runs over several lines: one line here, then the usage.
    throw new InputError(`${oneLine((e as Error).message.replace(/\s*\n\s*/g, ' '))}\n${positionals.usage}`, { multiline: true });
  }
  if (res.positionals.length < positionals.min || res.positionals.length > positionals.max) {
    throw new InputError(`expected ${positionals.min === positionals.max ? positionals.min : `${positionals.min}-${positionals.max}`} argument(s), got ${res.positionals.length}\n${positionals.usage}`, { multiline: true });
  }
  return res;
}

export function intOption(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  const s = String(v);
  if (!/^-?\d+$/.test(s)) throw new InputError(`--${name} expects an integer, got '${s}'`);
  return Number(s);
}

export function numberOption(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  // Number('') is 0: an empty value is no number.
  const n = String(v).trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InputError(`--${name} expects a non-negative number, got '${String(v)}'`);
  return n;
}

export async function setupBackend(values: ParsedValues): Promise<string> {
  const b = values.backend as string | undefined;
  if (b !== undefined && !['wasm', 'cpu', 'tensorflow', 'auto'].includes(b)) {
    throw new InputError(`--backend expects wasm, cpu or tensorflow, got '${b}'`);
  }
  const info = await initBackend((b as BackendName | 'auto' | undefined) ?? 'auto');
  return info.name;
}

/** The per-input specs from --shape, --input and --input-spec. */
export function inputOverrides(values: ParsedValues): InputSpec[] {
  const specs: InputSpec[] = [];
  if (values['input-spec']) specs.push(...loadInputSpecFile(values['input-spec'] as string));
  for (const s of (values.input as string[] | undefined) ?? []) specs.push(parseInputArg(s));
  for (const s of (values.shape as string[] | undefined) ?? []) specs.push(...parseShapeArg(s));
  // Merge specs for the same input: later flags refine earlier ones.
  const merged = new Map<string, InputSpec>();
  for (const s of specs) merged.set(s.name, { ...(merged.get(s.name) ?? {}), ...s });
  return [...merged.values()];
}

/**
 * Inputs with fewer doubles to draw than this are drawn on the main thread when they are
 * needed: about 0.4 ms of drawing, against a round trip to the metrics thread (which may be
 * napping) and its spin afterwards beside the models' kernels.
 */
const THREAD_DRAWS = 16384;

/** A feeds maker for seeded (or given) inputs of a model. */
export function feedsMaker(values: ParsedValues, specs: TensorSpec[], graph?: Graph) {
  const overrides = inputOverrides(values);
  const given = values.inputs as string | undefined;
  const intRanges = graph ? inferIntRanges(graph) : undefined;
  /** Doubles being drawn on the metrics thread, by seed and input (see prefetch). */
  const drawing = new Map<number, Map<string, { take(): Float64Array | null }>>();
  const make = (_iteration: number, seed: number): { feeds: Map<string, HostTensor>; sources: Record<string, string> } => {
    if (given) {
      const feeds = loadFeeds(given, specs);
      return { feeds, sources: Object.fromEntries([...feeds.keys()].map((k) => [k, `file(${given})`])) };
    }
    const jobs = drawing.get(seed);
    drawing.delete(seed);
    const feeds = generateFeeds(specs, { seed, overrides, intRanges, ...(jobs ? { drawn: (name: string) => jobs.get(name)?.take() ?? undefined } : {}) });
    const sources: Record<string, string> = {};
    for (const s of specs) {
      const o = overrides.find((x) => x.name === s.name || `${x.name}:0` === s.name);
      sources[s.name.replace(/:0$/, '')] = describeDist(o, s);
    }
    return { feeds, sources };
  };
  /**
   * Starts drawing the seeded inputs of `seed` on the metrics thread (while the candidate
   * loads, say); make() then takes the doubles it drew, or draws them itself. The same values
   * either way: the same ARC4 stream from the same state.
   */
  const prefetch = (seed: number): void => {
    const pool = given ? null : MetricsPool.get();
    if (!pool || drawing.has(seed)) return;
    const jobs = new Map<string, { take(): Float64Array | null }>();
    for (const d of plannedDraws(specs, { seed, overrides, intRanges })) {
      // A small draw is done here sooner than the thread can be asked for it.
      if (d.draws < THREAD_DRAWS) continue;
      const job = pool.drawDoubles(arc4State(d.key), d.draws);
      if (job) jobs.set(d.name, job);
    }
    drawing.set(seed, jobs);
  };
  return Object.assign(make, { prefetch });
}

function describeDist(o: InputSpec | undefined, s: TensorSpec): string {
  const d = o?.dist;
  if (o?.file) return `file(${o.file})`;
  if (o?.values) return `given ${o.values.dtype}[${o.values.shape.join(',')}]`;
  if (!d) return s.dtype === 'bool' ? 'bool(0.5)' : s.dtype.startsWith('int') || s.dtype.startsWith('uint') ? 'int(default range)' : 'uniform(-1,1)';
  switch (d.kind) {
    case 'uniform': return `uniform(${d.low},${d.high})`;
    case 'normal': return `normal(${d.mean},${d.std})`;
    case 'constant': return `constant(${d.value})`;
    case 'int': return `int(${d.low},${d.high})`;
    case 'bool': return `bool(${d.p})`;
    default: return 'given';
  }
}

/** Files up to this size are read and hashed in one go; larger ones are streamed. */
const HASH_AT_ONCE = 16 * 1024 * 1024;

/**
 * Digests already computed in this process, by the files' paths and stat data (device, inode,
 * size, modification and change times in ns): a loop of comparisons of the same models (the
 * API, the vitest matcher, a benchmark) reads and hashes each model once. A digest is kept
 * only once its files are 2 s old, so a file rewritten within the same clock tick as it was
 * hashed is not mistaken for the old one (git's "racy" rule); a changed file changes its
 * change time, which no tool can set back.
 */
const digests = new Map<string, { sha256: string; bytes: number }>();
/** Reads of files to hash (misses) and digests found (hits): for tests. */
export const hashCache = { hits: 0, misses: 0 };

/**
 * sha256 and size of the files a model is read from (formats/files.ts: a folder's files by
 * relative path, a model.json and its weight shards, a checkpoint's .meta, .index and .data;
 * `extra`: what its runner read besides, e.g. an ONNX model's external data), one digest
 * over them in that order. No files: an empty digest.
 */
export async function hashPath(path: string, extra: string[] = []): Promise<{ sha256: string; bytes: number }> {
  const files = modelFiles(path, extra);
  if (!files.length) return { sha256: '', bytes: 0 };
  const stats = files.map((f) => statSync(f, { bigint: true }));
  const key = files.map((f, i) => statKey(f, stats[i]!)).join('\n');
  const known = digests.get(key);
  if (known) {
    hashCache.hits++;
    return { ...known };
  }
  hashCache.misses++;
  const h = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    if (statSync(f).size <= HASH_AT_ONCE) {
      const b = readFileSync(f);
      bytes += b.length;
      h.update(b);
      continue;
    }
    await new Promise<void>((res, rej) => {
      createReadStream(f)
        .on('data', (c) => {
          bytes += c.length;
          h.update(c);
        })
        .on('end', () => res())
        .on('error', rej);
    });
  }
  const out = { sha256: h.digest('hex'), bytes };
  if (settled(stats)) {
    if (digests.size >= 256) digests.clear();
    digests.set(key, out);
  }
  return { ...out };
}

export function log(values: ParsedValues, msg: string): void {
  if (!values.quiet) process.stderr.write(msg + '\n');
}

export function loopActivationsOption(values: ParsedValues): 'all' | 'last' | undefined {
  const v = values['loop-activations'] as string | undefined;
  if (v === undefined) return undefined;
  if (v !== 'all' && v !== 'last') throw new InputError(`--loop-activations expects all or last, got '${v}'`);
  return v;
}

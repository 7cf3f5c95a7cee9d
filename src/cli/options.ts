import { Option } from 'commander';
import type { Command } from 'commander';
import type { CompareOptions } from '../api/compare.js';
import type { InputOptions } from '../api/feeds.js';
import type { BackendName } from '../backend/index.js';
import { METRICS, parseCheck } from '../compare/metrics.js';
import { InputError } from '../core/errors.js';
import { parseShapeArg } from '../inputs/spec.js';

/*
 * Option definitions shared by several commands, and the parsers that turn an option's text
 * into a typed value. A parser throws an InputError naming the option: one line, exit 2.
 */

/** Adds options in order (commander has no addOptions). */
export function withOptions(cmd: Command, options: Option[]): Command {
  for (const o of options) cmd.addOption(o);
  return cmd;
}

// ---- parsers ---------------------------------------------------------------------------

export function integer(flag: string, min = Number.MIN_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) {
      throw new InputError(`--${flag} expects ${min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : 'an integer'}, got '${v}'`);
    }
    return Number(v);
  };
}

export function nonNegative(flag: string): (v: string) => number {
  return (v) => {
    // Number('') is 0: an empty value is no number.
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InputError(`--${flag} expects a non-negative number, got '${v}'`);
    return n;
  };
}

/** A repeatable option: each occurrence is parsed and appended. */
export function repeated<T>(parse: (v: string) => T): (v: string, previous: T[] | undefined) => T[] {
  return (v, previous) => [...(previous ?? []), parse(v)];
}

/** A comma separated list: `--record a,b,c`. */
export function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

// ---- options of every command that runs a model ------------------------------------------

export interface RunFlags {
  seed: number;
  shape?: Record<string, number[]>;
  input?: string[];
  inputSpec?: string;
  inputs?: string;
  backend?: BackendName | 'auto';
  signature?: string;
  loopActivations?: 'all' | 'last';
  quiet?: boolean;
}

export function runOptions(): Option[] {
  return [
    new Option('--seed <n>', 'seed for generated inputs').argParser(integer('seed')).default(0),
    new Option('--shape <name:dims>', 'concrete shape for an input with unknown dims, e.g. x:1x224x224x3 (repeatable)').argParser((v: string, prev: Record<string, number[]> | undefined) => {
      const out = { ...(prev ?? {}) };
      for (const s of parseShapeArg(v)) out[s.name] = s.shape ?? [];
      return out;
    }),
    new Option('--input <name=dist>', 'distribution of one input: uniform(lo,hi), normal(mean,std), constant(v), int(lo,hi), bool(p), file(x.npy), or values as JSON: x=["a","b"] (repeatable)').argParser(repeated(String)),
    new Option('--input-spec <file>', 'JSON/YAML file of per-input specs'),
    new Option('--inputs <feeds.npz>', 'use these inputs instead of generated ones'),
    new Option('--backend <name>', 'backend of the reference interpreter (default: tensorflow when @tensorflow/tfjs-node loads, else wasm)').choices(['wasm', 'cpu', 'tensorflow']),
    new Option('--signature <name>', 'SavedModel signature (default serving_default)'),
    new Option('--loop-activations <which>', 'record every loop iteration (default) or only the last one').choices(['all', 'last']),
    new Option('-q, --quiet', 'no progress output'),
  ];
}

/** Where the inputs come from, for the API. */
export function inputOptionsOf(f: RunFlags): InputOptions {
  return {
    ...(f.shape ? { shapes: f.shape } : {}),
    ...(f.input ? { inputs: f.input } : {}),
    ...(f.inputSpec ? { inputSpec: f.inputSpec } : {}),
    ...(f.inputs ? { feeds: f.inputs } : {}),
  };
}

/** Progress on stderr unless --quiet. */
/** Warnings go to stderr, under --quiet too (they are not progress). */
export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`parity: warning: ${w}\n`);
}

export function progress(f: { quiet?: boolean }): (message: string) => void {
  return (m) => {
    if (!f.quiet) process.stderr.write(`parity: ${m}\n`);
  };
}

// ---- options of the comparison (compare, align) --------------------------------------------

/** One --atol/--rtol value: for every tensor, or for the tensor it names. */
export interface ToleranceFlag {
  tensor?: string;
  value: number;
}

function toleranceFlag(flag: 'atol' | 'rtol'): (v: string) => ToleranceFlag {
  return (s) => {
    const i = s.lastIndexOf(':');
    if (i <= 0) return { value: nonNegative(flag)(s) };
    if (s.slice(i + 1).trim() === '') throw new InputError(`--${flag} '${s}': expected NAME:VALUE (e.g. --${flag} logits:1e-3) or a value for every tensor`);
    return { tensor: s.slice(0, i), value: nonNegative(flag)(s.slice(i + 1)) };
  };
}

export interface CompareFlags extends RunFlags {
  atol?: ToleranceFlag[];
  rtol?: ToleranceFlag[];
  check?: string[];
  iterations: number;
  map?: string;
  namesOnly?: boolean;
  failOn: 'layers' | 'outputs' | 'all';
  errorScale: 'tensor' | 'element';
  topk?: number;
  nanDiffer?: boolean;
  ownError: boolean;
  outputs?: string[];
}

/** The metric names a check can use, read from the registry. */
export function metricNames(): string {
  return Object.keys(METRICS).join(', ');
}

export function compareOptions(): Option[] {
  return [
    new Option('--atol <x|name:x>', 'absolute tolerance, for every tensor or for one (repeatable; default 1e-4)').argParser(repeated(toleranceFlag('atol'))),
    new Option('--rtol <x|name:x>', 'relative tolerance, for every tensor or for one (repeatable; default 1e-4)').argParser(repeated(toleranceFlag('rtol'))),
    new Option('--check <threshold>', `extra threshold on a metric, e.g. 'cosine>=0.999' or 'logits:max_abs<=1e-3' (repeatable); metrics: ${metricNames()}`).argParser(
      repeated((s: string) => (parseCheck(s), s)),
    ),
    new Option('--iterations <n>', 'run N times with seeds seed..seed+N-1, keep the worst').argParser(integer('iterations', 1)).default(1),
    new Option('--map <map.json>', "alignment map (from 'parity align', possibly hand-edited)"),
    new Option('--names-only', 'pair by names and the map only, no numeric alignment'),
    new Option('--fail-on <what>', 'what decides the verdict: layers (the outputs and every layer paired by map, name or values), outputs (the outputs only), all (every compared pair)').choices(['layers', 'outputs', 'all']).default('layers'),
    new Option('--error-scale <how>', "what rtol multiplies: the tensor's max|ref| (tensor) or each element's |ref| (element, numpy allclose)").choices(['tensor', 'element']).default('tensor'),
    new Option('--topk <k>', 'also compute top-K agreement on the outputs').argParser(integer('topk', 1)),
    new Option('--nan-differ', 'a NaN in both at the same place counts as a mismatch'),
    new Option('--no-own-error', "skip re-running failing candidate layers on the reference's inputs"),
    new Option('--outputs <a,b>', "compare the original up to these tensors instead of its own outputs (e.g. a checkpoint's logits, when its inferred outputs go further)").argParser(list),
    ...runOptions(),
  ];
}

/** The API's options from the parsed flags of compare or align. */
export function compareOptionsOf(f: CompareFlags): CompareOptions {
  const perTensor: Record<string, { atol?: number; rtol?: number }> = {};
  const global: { atol?: number; rtol?: number } = {};
  for (const key of ['atol', 'rtol'] as const) {
    for (const t of f[key] ?? []) {
      if (t.tensor === undefined) global[key] = t.value;
      else perTensor[t.tensor] = { ...perTensor[t.tensor], [key]: t.value };
    }
  }
  return {
    ...inputOptionsOf(f),
    ...global,
    perTensor,
    seed: f.seed,
    iterations: f.iterations,
    checks: f.check ?? [],
    ...(f.map ? { map: f.map } : {}),
    namesOnly: f.namesOnly === true,
    failOn: f.failOn,
    errorScale: f.errorScale,
    ...(f.topk !== undefined ? { topk: f.topk } : {}),
    nanEqual: !f.nanDiffer,
    ownError: f.ownError,
    ...(f.backend ? { backend: f.backend } : {}),
    ...(f.signature ? { signature: f.signature } : {}),
    ...(f.loopActivations ? { loopActivations: f.loopActivations } : {}),
    ...(f.outputs?.length ? { outputs: f.outputs } : {}),
    onProgress: progress(f),
  };
}

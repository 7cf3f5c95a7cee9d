import { stripPort } from '../core/names.js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { DType } from '../core/dtype.js';
import { FormatError, InputError, errorMessage } from '../core/errors.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';

/** How the values of one input are drawn. `int` is [low, high), high exclusive. */
export type Distribution =
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'constant'; value: number }
  | { kind: 'int'; low: number; high: number }
  | { kind: 'bool'; p: number };

/**
 * What the user says about one model input; every field but `name` is optional and falls back
 * to the model's declaration (dtype, shape) or the default distribution for the dtype
 * (float: uniform(-1,1); integer: int(0,10) or the valid index range inferred from the graph;
 * bool: bool(0.5)). `file` (a .npy, or an .npz holding the input by name) or `values` (given
 * inline: `--input 'x=["a","b"]'`) replaces generation.
 *
 * Sources: `--shape NAME:1x224x224x3`, `--input 'NAME=normal(0,1)'`, `--input-spec FILE`.
 * `NAME` may be a node (`input`) or a tensor (`input:0`); both mean the same input. For a
 * SavedModel it may also be the signature key (`x` for `serving_default_x`): resolveInputName.
 */
export interface InputSpec {
  name: string;
  dtype?: DType;
  shape?: number[];
  dist?: Distribution;
  file?: string;
  /** Values given inline, as JSON (`["a","b"]`, `[[1,2]]`, `"text"`): converted to the declared dtype like a file's. */
  values?: HostTensor;
}

/** `input:0` -> `input` (a Placeholder has one output); `x:1` stays as it is. */
export function normalizeInputName(n: string): string {
  return stripPort(n.trim());
}

/**
 * The model input a user's name means, as its spec name: the input's own name (`serving_default_x`,
 * `serving_default_x:0`) or, failing that, its SavedModel signature key (`x`, as TF Serving,
 * saved_model_cli and tfjs-node name it). Undefined when no input has that name or key.
 */
export function resolveInputName(name: string, specs: readonly TensorSpec[]): string | undefined {
  const n = normalizeInputName(name);
  const own = specs.find((s) => normalizeInputName(s.name) === n);
  if (own) return normalizeInputName(own.name);
  const byKey = specs.find((s) => s.alias !== undefined && s.alias === n);
  return byKey ? normalizeInputName(byKey.name) : undefined;
}

/** An input as messages list it: `serving_default_x (signature key x)`. */
export function inputLabel(s: TensorSpec): string {
  const name = normalizeInputName(s.name);
  return s.alias !== undefined && s.alias !== name ? `${name} (signature key ${s.alias})` : name;
}

const DIST_USAGE = 'uniform(lo,hi), normal(mean,std), constant(v), int(lo,hi), bool(p), file(path) or values as JSON (["a","b"], [[1,2]])';

/**
 * Values written as JSON: a (nested) array or a single string, all strings (a string tensor,
 * UTF-8), all booleans, or all numbers (int64 when every one is an integer, else float64; the
 * declared dtype is reached as a file's values are). Nested arrays must be rectangular.
 */
export function parseValues(text: string, what: string): HostTensor {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${what}: values are not valid JSON: ${errorMessage(e)}`);
  }
  const shape: number[] = [];
  for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  const flat: unknown[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(x)) throw new InputError(`${what}: the nested arrays are not rectangular`);
      flat.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) throw new InputError(`${what}: the nested arrays are not rectangular (shape [${shape.join(',')}])`);
    for (const y of x) walk(y, depth + 1);
  };
  walk(v, 0);
  if (flat.every((x) => typeof x === 'string')) {
    const enc = new TextEncoder();
    return { dtype: 'string', shape, data: flat.map((x) => enc.encode(x as string)) };
  }
  if (flat.every((x) => typeof x === 'boolean')) return { dtype: 'bool', shape, data: Uint8Array.from(flat.map((x) => (x ? 1 : 0))) };
  if (flat.every((x) => typeof x === 'number')) {
    const nums = flat as number[];
    if (nums.every((x) => Number.isSafeInteger(x))) return { dtype: 'int64', shape, data: BigInt64Array.from(nums.map((x) => BigInt(x))) };
    return { dtype: 'float64', shape, data: Float64Array.from(nums) };
  }
  throw new InputError(`${what}: values must be all strings, all booleans or all numbers`);
}

function num(s: string, what: string, arg: string): number {
  const t = s.trim();
  const v = Number(t);
  if (t === '' || !Number.isFinite(v)) throw new InputError(`${what}: ${arg} '${s}' is not a finite number`);
  return v;
}

function checkDist(d: Distribution, what: string): Distribution {
  switch (d.kind) {
    case 'uniform':
      if (!(d.low < d.high)) throw new InputError(`${what}: uniform(lo,hi) needs lo < hi, got uniform(${d.low},${d.high})`);
      break;
    case 'normal':
      if (!(d.std >= 0)) throw new InputError(`${what}: normal(mean,std) needs std >= 0, got ${d.std}`);
      break;
    case 'int':
      if (!Number.isSafeInteger(d.low) || !Number.isSafeInteger(d.high) || !(d.low < d.high)) {
        throw new InputError(`${what}: int(lo,hi) needs integers lo < hi (hi is exclusive), got int(${d.low},${d.high})`);
      }
      break;
    case 'bool':
      if (!(d.p >= 0 && d.p <= 1)) throw new InputError(`${what}: bool(p) needs 0 <= p <= 1, got ${d.p}`);
      break;
    case 'constant':
      break;
  }
  return d;
}

/**
 * `normal(0,1)`, `uniform(-1,1)`, `constant(0.5)` (or a bare number), `int(0,1000)`, `bool(0.5)`,
 * `file(x.npy)`. `what` prefixes error messages.
 */
export function parseDistribution(s: string, what: string): { dist?: Distribution; file?: string; values?: HostTensor } {
  const t = s.trim();
  if (t.startsWith('[') || t.startsWith('"')) return { values: parseValues(t, what) };
  if (t !== '' && Number.isFinite(Number(t))) return { dist: { kind: 'constant', value: Number(t) } };
  const m = /^([a-zA-Z_]+)\s*\((.*)\)$/s.exec(t);
  if (!m) throw new InputError(`${what}: expected ${DIST_USAGE}, got '${s}'`);
  const kind = m[1]!.toLowerCase();
  const argStr = m[2]!;
  if (kind === 'file') {
    const p = argStr.trim().replace(/^(['"])(.*)\1$/, '$2');
    if (!p) throw new InputError(`${what}: file() needs a path, like file(x.npy)`);
    return { file: p };
  }
  const args = argStr.trim() === '' ? [] : argStr.split(',');
  const arity: Record<string, string[]> = { uniform: ['lo', 'hi'], normal: ['mean', 'std'], constant: ['value'], int: ['lo', 'hi'], bool: ['p'] };
  const names = arity[kind];
  if (!names) throw new InputError(`${what}: unknown distribution '${m[1]}' (expected ${DIST_USAGE})`);
  if (args.length !== names.length) throw new InputError(`${what}: ${kind}(${names.join(',')}) takes ${names.length} argument(s), got ${args.length} in '${s.trim()}'`);
  const v = args.map((a, i) => num(a, what, names[i]!));
  switch (kind) {
    case 'uniform': return { dist: checkDist({ kind, low: v[0]!, high: v[1]! }, what) };
    case 'normal': return { dist: checkDist({ kind, mean: v[0]!, std: v[1]! }, what) };
    case 'int': return { dist: checkDist({ kind, low: v[0]!, high: v[1]! }, what) };
    case 'bool': return { dist: checkDist({ kind, p: v[0]! }, what) };
    default: return { dist: { kind: 'constant', value: v[0]! } };
  }
}

/**
 * `--shape` values: `input:1x224x224x3`, `input:0:1x3` (tensor name), several comma separated
 * (`a:1x3,b:1`); `x:scalar` (or `x:`) is a 0-d input. The flag may also be repeated by the CLI.
 */
export function parseShapeArg(s: string): InputSpec[] {
  const parts = s.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw new InputError(`--shape '${s}': expected NAME:DIMS like input_1:1x224x224x3`);
  return parts.map((part) => {
    const i = part.lastIndexOf(':');
    if (i <= 0) throw new InputError(`--shape '${part}': expected NAME:DIMS like input_1:1x224x224x3`);
    const name = normalizeInputName(part.slice(0, i));
    const dims = part.slice(i + 1).trim();
    if (dims === '' || dims === 'scalar') return { name, shape: [] };
    const shape = dims.split(/[xX×]/).map((d) => {
      const t = d.trim();
      if (!/^\d+$/.test(t)) throw new InputError(`--shape '${part}': dimension '${d}' is not a non-negative integer (unknown dims must be given concretely)`);
      return Number(t);
    });
    return { name, shape };
  });
}

/** `--input` values: `x=normal(0,1)`, `ids:0=int(0,1000)`, `mask=bool(0.5)`, `x=file(x.npy)`, `x=0.5`. */
export function parseInputArg(s: string): InputSpec {
  const i = s.indexOf('=');
  if (i <= 0) throw new InputError(`--input '${s}': expected NAME=DIST like x=normal(0,1); DIST is ${DIST_USAGE}`);
  const name = normalizeInputName(s.slice(0, i));
  if (!name) throw new InputError(`--input '${s}': the input name is empty`);
  return { name, ...parseDistribution(s.slice(i + 1), `--input '${s}'`) };
}

const SPEC_DTYPES: ReadonlySet<string> = new Set<DType>([
  'float32', 'float16', 'float64', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string',
]);
const SPEC_KEYS = ['name', 'shape', 'dtype', 'dist', 'file'];
const DIST_FIELDS: Record<string, string[]> = { uniform: ['low', 'high'], normal: ['mean', 'std'], constant: ['value'], int: ['low', 'high'], bool: ['p'] };

function distFromObject(o: Record<string, unknown>, where: string, file: string): Distribution {
  const fail = (why: string): never => {
    throw new FormatError(`${where}: 'dist' ${why}`, { file });
  };
  const kind = o.kind;
  if (typeof kind !== 'string' || !DIST_FIELDS[kind]) return fail(`needs 'kind': one of ${Object.keys(DIST_FIELDS).join(', ')} (got ${JSON.stringify(kind)})`);
  const fields = DIST_FIELDS[kind]!;
  for (const k of Object.keys(o)) if (k !== 'kind' && !fields.includes(k)) fail(`of kind ${kind} has no field '${k}' (fields: ${fields.join(', ')})`);
  const v: Record<string, number> = {};
  for (const f of fields) {
    const x = o[f];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`of kind ${kind} needs a number '${f}' (got ${JSON.stringify(x)})`);
    v[f] = x as number;
  }
  try {
    return checkDist({ kind, ...v } as Distribution, where);
  } catch (e) {
    throw new FormatError(errorMessage(e), { file });
  }
}

/**
 * A JSON or YAML spec file (`--input-spec`): either a list of specs with `name`, or a mapping
 * from input name to spec. A spec has any of `shape: [1, 3]`, `dtype: float32`,
 * `dist: "normal(0,1)"` or `dist: {kind: normal, mean: 0, std: 1}`, `file: x.npy`.
 * Relative file paths are relative to the spec file. Errors name the file and the input.
 */
export function loadInputSpecFile(path: string): InputSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`input spec ${path} cannot be read: ${errorMessage(e)}`, { file: path, cause: e });
  }
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { prettyErrors: false });
    // The parser collects errors instead of throwing; a half-read spec must not pass.
    if (parsed.errors.length) throw parsed.errors[0];
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new FormatError(`${path}: not valid YAML/JSON: ${errorMessage(e).split('\n')[0]}`, { file: path, cause: e });
  }
  const items: [string | undefined, unknown][] = Array.isArray(doc)
    ? doc.map((d) => [undefined, d])
    : doc && typeof doc === 'object'
      ? Object.entries(doc as Record<string, unknown>)
      : [];
  if (!items.length) throw new FormatError(`${path}: expected a list of input specs or a mapping from input name to spec`, { file: path });
  const seen = new Set<string>();
  return items.map(([key, raw], idx) => {
    const where = `${path}: ${key !== undefined ? `input '${key}'` : `item ${idx}`}`;
    const fail = (why: string): never => {
      throw new FormatError(`${where}: ${why}`, { file: path, node: key });
    };
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(`must be a mapping with any of ${SPEC_KEYS.join(', ')}`);
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!SPEC_KEYS.includes(k)) fail(`unknown key '${k}' (expected ${SPEC_KEYS.join(', ')})`);
    if (o.name !== undefined && typeof o.name !== 'string') fail(`'name' must be a string`);
    if (key !== undefined && o.name !== undefined && normalizeInputName(o.name as string) !== normalizeInputName(key)) fail(`'name' says '${o.name as string}' but the key says '${key}'`);
    const name = normalizeInputName((o.name as string | undefined) ?? key ?? '');
    if (!name) fail(`missing 'name'`);
    if (seen.has(name)) fail(`input '${name}' is specified twice`);
    seen.add(name);
    const spec: InputSpec = { name };
    if (o.shape !== undefined) {
      if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        fail(`'shape' must be a list of non-negative integers, got ${JSON.stringify(o.shape)}`);
      }
      spec.shape = o.shape as number[];
    }
    if (o.dtype !== undefined) {
      if (typeof o.dtype !== 'string' || !SPEC_DTYPES.has(o.dtype)) fail(`unknown dtype ${JSON.stringify(o.dtype)} (expected one of ${[...SPEC_DTYPES].join(', ')})`);
      spec.dtype = o.dtype as DType;
    }
    if (o.dist !== undefined) {
      if (typeof o.dist === 'string' || typeof o.dist === 'number') {
        let parsed: { dist?: Distribution; file?: string; values?: HostTensor };
        try {
          parsed = parseDistribution(String(o.dist), where);
        } catch (e) {
          throw new FormatError(errorMessage(e), { file: path, node: name });
        }
        if (parsed.dist) spec.dist = parsed.dist;
        if (parsed.values) spec.values = parsed.values;
        if (parsed.file) spec.file = resolve(dirname(path), parsed.file);
      } else if (o.dist && typeof o.dist === 'object' && !Array.isArray(o.dist)) {
        spec.dist = distFromObject(o.dist as Record<string, unknown>, where, path);
      } else fail(`'dist' must be a string like "normal(0,1)" or a mapping like {kind: normal, mean: 0, std: 1}`);
    }
    if (o.file !== undefined) {
      if (typeof o.file !== 'string' || !o.file) fail(`'file' must be a path`);
      if (spec.file) fail(`both 'file' and dist: file(...) are given`);
      spec.file = resolve(dirname(path), o.file as string);
    }
    if (spec.file && spec.dist) fail(`give either 'file' or 'dist', not both`);
    return spec;
  });
}

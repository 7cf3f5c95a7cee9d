import type { DType } from '../core/dtype.js';
import { isFloatDType, isIntDType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { suggest } from '../core/names.js';
import type { HostData, HostTensor, Shape, TensorSpec } from '../core/tensor.js';
import { checkTensorBudget, numElements, shapeToString } from '../core/tensor.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { roundFloat } from './float.js';
import type { DoubleStream } from './kernel/arc4.js';
import { doubleStream } from './kernel/arc4.js';
import { readNpyFile } from './npy.js';
import { readNpzFile } from './npz.js';
import type { Distribution, InputSpec } from './spec.js';
import { inputLabel, normalizeInputName, resolveInputName } from './spec.js';

/**
 * Seeded input generation. Every input draws from its own stream, seeded by
 * `tf-parity:<seed>:<input name>`, so adding, removing or reordering inputs never changes the
 * others. seedrandom's ARC4 is pure integer arithmetic and V8 computes Math.log/sin/cos with its
 * own fdlibm port, so the same seed gives the same bytes on every machine running Node.
 * Changing the stream key or the draw order changes every stored result: the golden in
 * test/inputs pins it.
 */

export interface IntRange {
  low: number;
  /** Exclusive. */
  high: number;
}

/**
 * A default distribution a model's own first operations call for (token ids for an embedding,
 * pixel values for a `x / 255` preamble), used when nothing else is given for the input;
 * `reason` says why, for the run facts and the console.
 */
export interface InputHint {
  dist: Distribution;
  reason: string;
}

export interface GenerateOptions {
  seed: number;
  /** Per-input shape/dtype/distribution/file; several entries for one input are merged, later ones win. */
  overrides?: InputSpec[];
  /** Valid index ranges for inputs (from inferIntRanges), used when no distribution is given. */
  intRanges?: Map<string, IntRange>;
  /** Defaults the model's first operations call for (src/inputs/preamble.ts, a runner's inputHints). */
  hints?: Map<string, InputHint>;
  /** Doubles of an input's stream drawn already (see plannedDraws); used when there are as many as it takes. */
  drawn?: (name: string) => Float64Array | undefined;
}

/** The seedrandom key of one input's stream. */
export function streamKey(seed: number, inputName: string): string {
  return `tf-parity:${seed}:${normalizeInputName(inputName)}`;
}

/** Representable range of an integer dtype (64-bit ones limited to what a double holds exactly). */
function intLimits(d: DType): { min: number; max: number } | undefined {
  switch (d) {
    case 'int8': return { min: -128, max: 127 };
    case 'uint8': return { min: 0, max: 255 };
    case 'int16': return { min: -32768, max: 32767 };
    case 'uint16': return { min: 0, max: 65535 };
    case 'int32': return { min: -(2 ** 31), max: 2 ** 31 - 1 };
    case 'uint32': return { min: 0, max: 2 ** 32 - 1 };
    case 'int64': return { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
    case 'uint64': return { min: 0, max: Number.MAX_SAFE_INTEGER };
    default: return undefined;
  }
}

/** A distribution as the --input syntax writes it. */
export function describeDistribution(d: Distribution): string {
  switch (d.kind) {
    case 'uniform': return `uniform(${d.low},${d.high})`;
    case 'normal': return `normal(${d.mean},${d.std})`;
    case 'constant': return `constant(${d.value})`;
    case 'int': return `int(${d.low},${d.high})`;
    case 'bool': return `bool(${d.p})`;
  }
}

/**
 * Concrete shape of an input: a shape the user gives (kept even when it differs from the
 * declared one: TF's C API runs such a feed and lets the ops decide; feedShapeWarnings says so),
 * else the declared dims with a leading unknown (batch) dim as 1.
 */
function concreteShape(name: string, declared: Shape, given: number[] | undefined): number[] {
  if (given) return given;
  if (declared === null) throw new InputError(`input '${name}' has an unknown shape (not even its rank is declared); give it with --shape ${name}:1x...`, { node: name });
  // A leading unknown dim is the batch by convention; 1 is the natural default. Any other unknown dim is the user's to choose.
  if (declared.some((d, i) => d < 0 && i > 0)) {
    const hint = declared.map((d, i) => (d >= 0 ? String(d) : i === 0 ? '1' : 'N')).join('x');
    throw new InputError(`input '${name}' is declared ${shapeToString(declared)} with unknown dims; give a concrete shape with --shape ${name}:${hint} (each N a number)`, { node: name });
  }
  return declared.map((d) => (d < 0 ? 1 : d));
}

function defaultDist(dtype: DType, range: IntRange | undefined): Distribution {
  if (dtype === 'bool') return { kind: 'bool', p: 0.5 };
  if (range) return { kind: 'int', low: range.low, high: range.high };
  if (isIntDType(dtype)) return { kind: 'int', low: 0, high: 10 };
  return { kind: 'uniform', low: -1, high: 1 };
}

function allocate(dtype: DType, n: number): HostData {
  switch (dtype) {
    case 'float64': return new Float64Array(n);
    case 'complex64': return new Float32Array(2 * n);
    case 'complex128': return new Float64Array(2 * n);
    case 'int8': return new Int8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'uint64': return new BigUint64Array(n);
    default: return new Float32Array(n);
  }
}

/** Refuses distributions whose values a dtype cannot hold, rather than wrapping them silently. */
function checkDistFits(name: string, dtype: DType, dist: Distribution): void {
  const lim = intLimits(dtype);
  if (dtype === 'bool' && (dist.kind === 'uniform' || dist.kind === 'normal')) {
    throw new InputError(`input '${name}' is bool; ${describeDistribution(dist)} makes no sense for it, use bool(p)`, { node: name });
  }
  if (!lim) return;
  if (dist.kind === 'int' && (dist.low < lim.min || dist.high - 1 > lim.max)) {
    throw new InputError(`input '${name}' is ${dtype}, which holds [${lim.min}, ${lim.max}]; ${describeDistribution(dist)} draws values outside it`, { node: name });
  }
  if (dist.kind === 'constant' && (!Number.isInteger(dist.value) || dist.value < lim.min || dist.value > lim.max)) {
    throw new InputError(`input '${name}' is ${dtype}; ${describeDistribution(dist)} is not an integer in [${lim.min}, ${lim.max}]`, { node: name });
  }
}

/** What generating one input draws: its shape, distribution, and how many doubles of which stream. */
export interface DrawPlan {
  shape: number[];
  dist: Distribution;
  /** Values to make (complex: two per element). */
  n: number;
  lim: { min: number; max: number } | undefined;
  /** The seedrandom key of its stream, and how many doubles are taken from it at once. */
  key: string;
  draws: number;
}

/** The plan of one drawn input (not a file); throws what generating it would. */
export function planDraws(spec: TensorSpec, seed: number, override?: InputSpec, range?: IntRange): DrawPlan {
  const name = normalizeInputName(spec.name);
  const dtype = override?.dtype ?? spec.dtype;
  if (dtype === 'string') throw new InputError(`input '${name}' is a string tensor and cannot be generated; give its values with --input '${name}=["text"]', --input '${name}=file(values.npy)' or --inputs feeds.npz`, { node: name });
  if (dtype === 'resource' || dtype === 'variant') throw new InputError(`input '${name}' is a ${dtype} handle and cannot be fed`, { node: name });
  const shape = concreteShape(name, spec.shape, override?.shape);
  const perElement = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  checkTensorBudget(shape, 8 * perElement, { node: name });
  const lim = intLimits(dtype);
  const clippedRange = range && lim ? { low: Math.max(range.low, lim.min), high: Math.min(range.high, lim.max + 1) } : range;
  const dist = override?.dist ?? defaultDist(dtype, clippedRange);
  checkDistFits(name, dtype, dist);
  const n = numElements(shape) * perElement;
  const draws = dist.kind === 'constant' ? 0 : dist.kind === 'normal' ? n + (n % 2) : n;
  return { shape, dist, n, lim, key: streamKey(seed, name), draws };
}

/**
 * Values of one input: `override.file` if given, else drawn from `override.dist`, else from the
 * default for its dtype (or `range`, an inferred valid index range).
 * Floats are drawn in float64 and rounded once to the dtype; integer dtypes get rounded values,
 * saturated to the dtype's range for uniform/normal draws.
 */
export function generateOne(spec: TensorSpec, seed: number, override?: InputSpec, range?: IntRange, drawn?: Float64Array): HostTensor {
  const name = normalizeInputName(spec.name);
  const dtype = override?.dtype ?? spec.dtype;
  if (override?.file) return loadFileInput({ ...spec, name, dtype }, override);
  if (override?.values) return checkGiven(override.values, { ...spec, name, dtype }, `--input '${name}'`, { file: '', node: name }, override.shape);
  const { shape, dist, n, lim, key, draws } = planDraws(spec, seed, override, range);
  // seedrandom's doubles (kernel/arc4.ts makes the same ones faster): one per element is
  // taken at once (or were, on another thread: `drawn`), and the rare extra (a zero rejected
  // by Box-Muller) is drawn after them.
  const given = drawn && drawn.length === draws ? drawn : undefined;
  let stream: DoubleStream | undefined;
  const more = () => {
    if (!stream) {
      stream = doubleStream(key);
      // Past the doubles drawn elsewhere.
      if (given) stream.take(draws);
    }
    return stream;
  };
  const pool = given ?? (draws ? more().take(draws) : new Float64Array(0));
  let p = 0;
  const rng = { double: (): number => (p < pool.length ? pool[p++]! : more().next()) };
  let spare: number | undefined;
  // Box-Muller in float64; the second value of each pair is used for the next element.
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = rng.double();
    const v = rng.double();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  let draw: () => number;
  switch (dist.kind) {
    case 'uniform': { const { low, high } = dist; draw = () => low + (high - low) * rng.double(); break; }
    case 'normal': { const { mean, std } = dist; draw = () => mean + std * normal(); break; }
    case 'constant': { const { value } = dist; draw = () => value; break; }
    case 'int': { const { low, high } = dist; draw = () => low + Math.floor(rng.double() * (high - low)); break; }
    case 'bool': { const { p } = dist; draw = () => (rng.double() < p ? 1 : 0); break; }
  }
  const data = allocate(dtype, n);
  if (dtype === 'bool') {
    const a = data as Uint8Array;
    for (let i = 0; i < n; i++) a[i] = draw() ? 1 : 0;
  } else if (lim) {
    const toInt = (x: number) => Math.min(lim.max, Math.max(lim.min, Math.round(x)));
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      const a = data as BigInt64Array;
      for (let i = 0; i < n; i++) a[i] = BigInt(toInt(draw())) as never;
    } else {
      const a = data as Int32Array;
      for (let i = 0; i < n; i++) a[i] = toInt(draw());
    }
  } else {
    const a = data as Float32Array | Float64Array;
    if (dtype === 'float16' || dtype === 'bfloat16') for (let i = 0; i < n; i++) a[i] = roundFloat(draw(), dtype);
    else if (dist.kind === 'uniform') {
      // The default, written out: the same arithmetic as draw(), without a call per element.
      const { low, high } = dist;
      for (let i = 0; i < n; i++) a[i] = low + (high - low) * pool[i]!;
    } else for (let i = 0; i < n; i++) a[i] = draw(); // the typed array rounds float32 to nearest even
  }
  return { dtype, shape, data };
}

/** Several specs for one input (file, flags, by name or signature key) collapse into one; later fields win. */
function mergeOverrides(overrides: InputSpec[], specs: TensorSpec[]): Map<string, InputSpec> {
  const m = new Map<string, InputSpec>();
  for (const o of overrides) {
    const name = resolveInputName(o.name, specs) ?? normalizeInputName(o.name);
    const prev = m.get(name);
    const next: InputSpec = { ...prev, ...o, name };
    // A later distribution, file or inline values replace an earlier one.
    const given = (['dist', 'file', 'values'] as const).filter((k) => o[k] !== undefined);
    if (given.length) for (const k of ['dist', 'file', 'values'] as const) if (!given.includes(k)) delete next[k];
    m.set(name, next);
  }
  return m;
}

/** The input's override, with the hint's distribution when none is given and no index range applies. */
function hinted(name: string, o: InputSpec | undefined, opts: GenerateOptions): InputSpec | undefined {
  const hint = opts.hints?.get(name);
  if (!hint || o?.dist || o?.file || opts.intRanges?.has(name)) return o;
  return { ...(o ?? {}), name, dist: hint.dist };
}

/** Feeds for every model input, keyed by input name (`x`, not `x:0`). */
export function generateFeeds(specs: TensorSpec[], opts: GenerateOptions): Map<string, HostTensor> {
  const names = specs.map((s) => normalizeInputName(s.name));
  const overrides = mergeOverrides(opts.overrides ?? [], specs);
  for (const o of overrides.keys()) {
    if (!names.includes(o)) {
      const known = [...names, ...specs.flatMap((s) => (s.alias !== undefined ? [s.alias] : []))];
      throw new InputError(`'${o}' is not an input of the model${suggest(o, known)}; its inputs are: ${specs.map(inputLabel).join(', ') || '(none)'}`, { node: o });
    }
  }
  const out = new Map<string, HostTensor>();
  for (const s of specs) {
    const name = normalizeInputName(s.name);
    out.set(name, generateOne(s, opts.seed, hinted(name, overrides.get(name), opts), opts.intRanges?.get(name), opts.drawn?.(name)));
  }
  return out;
}

/**
 * The streams generateFeeds() will draw from, and how many doubles of each, so that another
 * thread can draw them first (see MetricsPool.drawDoubles). Best effort: inputs that would fail
 * (their error comes from generateFeeds()) or read files are left out.
 */
export function plannedDraws(specs: TensorSpec[], opts: GenerateOptions): { name: string; key: string; draws: number }[] {
  const overrides = mergeOverrides(opts.overrides ?? [], specs);
  const out: { name: string; key: string; draws: number }[] = [];
  for (const s of specs) {
    const name = normalizeInputName(s.name);
    const o = hinted(name, overrides.get(name), opts);
    if (o?.file || o?.values) continue;
    try {
      const p = planDraws(s, opts.seed, o, opts.intRanges?.get(name));
      if (p.draws > 0) out.push({ name, key: p.key, draws: p.draws });
    } catch {
      // generateFeeds() reports it.
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Given values (files)

type Family = 'float' | 'int' | 'bool' | 'string' | 'complex' | 'other';
function family(d: DType): Family {
  if (isFloatDType(d)) return 'float';
  if (isIntDType(d)) return 'int';
  if (d === 'bool' || d === 'string') return d;
  if (d === 'complex64' || d === 'complex128') return 'complex';
  return 'other';
}

/**
 * Converts given values to the dtype the model declares, so every runner sees the declared
 * type: within a family, and int -> float. Integers must fit exactly; floats are rounded once.
 */
function castTo(h: HostTensor, dtype: DType, where: string, ctx: { file: string; node: string }): HostTensor {
  if (h.dtype === dtype) return h;
  const from = family(h.dtype);
  const to = family(dtype);
  const ok = from === to || (from === 'int' && to === 'float');
  if (!ok || from === 'string' || from === 'other') {
    throw new InputError(`${where}: the model declares ${dtype} but the array is ${h.dtype}; save it as ${dtype}`, ctx);
  }
  const src = h.data as Exclude<HostData, Uint8Array[]>;
  const n = src.length;
  if (from === 'complex' || to === 'float') {
    const out = allocate(dtype, to === 'complex' ? n / 2 : n) as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) out[i] = roundFloat(Number(src[i]!), dtype);
    return { dtype, shape: h.shape, data: out };
  }
  if (to === 'bool') return { dtype, shape: h.shape, data: src as Uint8Array };
  const lim = intLimits(dtype)!;
  const out = allocate(dtype, n);
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    const x = Number(v);
    if (x < lim.min || x > lim.max || (typeof v === 'bigint' && BigInt(x) !== v)) {
      throw new InputError(`${where}: the model declares ${dtype} but element ${i} of the ${h.dtype} array is ${v}, outside [${lim.min}, ${lim.max}]`, ctx);
    }
    if (big) (out as BigInt64Array)[i] = BigInt(x) as never;
    else (out as Int32Array)[i] = x;
  }
  return { dtype, shape: h.shape, data: out };
}

function checkGiven(h: HostTensor, spec: TensorSpec, where: string, ctx: { file: string; node: string }, shapeOverride?: number[]): HostTensor {
  // An array whose shape differs from the declared one runs as given (feedShapeWarnings says so).
  const mismatch = (want: number[]) => want.length !== h.shape.length || want.some((d, i) => d >= 0 && d !== h.shape[i]);
  if (shapeOverride && mismatch(shapeOverride)) {
    throw new InputError(`${where}: --shape gives ${shapeToString(shapeOverride)} for input '${ctx.node}' but the array is ${shapeToString(h.shape)}`, ctx);
  }
  return castTo(h, spec.dtype, where, ctx);
}

/** Selects an input's array from an .npz: by name (`x` or `x:0`) or signature key, or the only array. */
function pickFromNpz(arrays: Map<string, HostTensor>, spec: TensorSpec, path: string): HostTensor {
  const name = normalizeInputName(spec.name);
  for (const [k, v] of arrays) if (normalizeInputName(k) === name) return v;
  for (const [k, v] of arrays) if (spec.alias !== undefined && normalizeInputName(k) === spec.alias) return v;
  if (arrays.size === 1) return arrays.values().next().value!;
  const keys = [...arrays.keys()];
  throw new InputError(`${path} has no array named '${name}'${suggest(name, keys)}; it holds: ${keys.join(', ') || 'nothing'}`, { file: path, node: name });
}

function loadFileInput(spec: TensorSpec, o: InputSpec): HostTensor {
  const path = o.file!;
  const h = /\.npz$/i.test(path) ? pickFromNpz(readNpzFile(path), spec, path) : readNpyFile(path);
  return checkGiven(h, spec, path, { file: path, node: spec.name }, o.shape);
}

/**
 * Feeds given by the user: an .npz with one array per input (keys `x` or `x:0`), or one .npy
 * for a model with a single input. Names, shapes and dtypes are checked against `specs`;
 * values are converted to the declared dtype when that is lossless (int64 ids for an int32
 * input, float64 for float32 is rounded once).
 */
export function loadFeeds(path: string, specs: TensorSpec[]): Map<string, HostTensor> {
  const names = specs.map((s) => normalizeInputName(s.name));
  let arrays: Map<string, HostTensor>;
  if (/\.npy$/i.test(path)) {
    if (specs.length !== 1) {
      throw new InputError(`${path} is a single .npy array but the model has ${specs.length} inputs (${names.join(', ')}); give an .npz with one array per input name`, { file: path });
    }
    arrays = new Map([[names[0]!, readNpyFile(path)]]);
  } else {
    arrays = new Map();
    const given = new Map<string, string>();
    for (const [k, v] of readNpzFile(path)) {
      // Keyed by input name (`x`, `x:0`) or, for a SavedModel, by signature key.
      const key = resolveInputName(k, specs) ?? normalizeInputName(k);
      if (arrays.has(key)) throw new InputError(`${path}: arrays '${given.get(key)}' and '${k}' name the same input '${key}'`, { file: path, node: key });
      arrays.set(key, v);
      given.set(key, k);
    }
  }
  const keys = [...arrays.keys()];
  for (const k of keys) {
    if (!names.includes(k)) throw new InputError(`${path}: array '${k}' is not an input of the model${suggest(k, names)}; its inputs are: ${specs.map(inputLabel).join(', ')}`, { file: path, node: k });
  }
  const out = new Map<string, HostTensor>();
  specs.forEach((s, i) => {
    const name = names[i]!;
    const a = arrays.get(name);
    if (!a) throw new InputError(`${path} has no array for input '${name}'${suggest(name, keys)}; it holds: ${keys.join(', ') || 'nothing'}`, { file: path, node: name });
    out.set(name, checkGiven(a, { ...s, name }, path, { file: path, node: name }));
  });
  return out;
}

/**
 * One line per fed input whose shape differs from the one the model declares. Only a shape the
 * user gave (an array, --shape) can differ: TF's C API (TF Serving, tfjs-node) runs such a feed
 * and lets the ops decide (tfjs-node's tests feed [1,2,3] to a signature declared as a scalar),
 * where Python's signature check refuses it; tf-parity runs it and says so.
 */
export function feedShapeWarnings(specs: TensorSpec[], feeds: Map<string, HostTensor>): string[] {
  const out: string[] = [];
  for (const s of specs) {
    const h = feeds.get(normalizeInputName(s.name));
    const d = s.shape;
    if (!h || !d) continue;
    if (d.length === h.shape.length && d.every((x, i) => x < 0 || x === h.shape[i])) continue;
    out.push(`input '${inputLabel(s)}' is declared ${shapeToString(d)} but is fed ${shapeToString(h.shape)}: running it as fed (as TF's C API does; the ops decide)`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid index ranges

/** Ops whose output values are (a selection of) the values at these input slots. */
const PASS_THROUGH: Record<string, (slot: number, nInputs: number) => boolean> = Object.fromEntries([
  ...['Identity', 'Snapshot', 'StopGradient', 'PreventGradient', 'Cast', 'Reshape', 'ExpandDims', 'Squeeze', 'Transpose', 'Tile',
    'StridedSlice', 'Slice', 'Unpack', 'Reverse', 'ReverseV2', 'BroadcastTo', 'Round', 'Floor', 'Switch', 'Enter', 'SplitV',
    'PlaceholderWithDefault', 'EnsureShape', 'CheckNumerics'].map((op) => [op, (s: number) => s === 0]),
  ...['IdentityN', 'Pack', 'Merge'].map((op) => [op, () => true]),
  ['ConcatV2', (s: number, n: number) => s < n - 1],
  ['Concat', (s: number) => s > 0],
  ['Split', (s: number) => s === 1],
  // Gathering from an id table keeps the table's values.
  ...['Gather', 'GatherV2', 'GatherNd'].map((op) => [op, (s: number) => s === 0]),
]);

const VALUE_OPS = new Set(['Identity', 'ReadVariableOp', 'Enter', 'Snapshot', 'StopGradient']);

/** Each node's data readers: the nodes that read one of its outputs, and at which data input slot. */
export function readersOf(graph: Graph): Map<string, { node: GraphNode; slot: number }[]> {
  const users = new Map<string, { node: GraphNode; slot: number }[]>();
  for (const n of graph.nodes) {
    let slot = 0;
    for (const r of n.inputs) {
      if (r.startsWith('^')) continue;
      const src = parseInputRef(r).node;
      let u = users.get(src);
      if (!u) users.set(src, (u = []));
      u.push({ node: n, slot: slot++ });
    }
  }
  return users;
}

/**
 * Valid ranges [0, high) for model inputs that end up as indices: of Gather/GatherV2/ResourceGather
 * (high = params' size along the gather axis; params a Const, variable or shaped placeholder,
 * as in embedding lookups), OneHot (high = depth) and UnsortedSegment* (high = num_segments),
 * reached directly or through value-preserving ops (Identity, Cast, Reshape, ExpandDims, slices,
 * concatenations, ...). An input used in several places gets the smallest bound. Float inputs
 * count too (a Keras Embedding fed by a float Input casts it to int first); generation then
 * draws integer values. Function bodies (PartitionedCall) are not followed.
 */
export function inferIntRanges(graph: Graph): Map<string, IntRange> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const users = readersOf(graph);
  const dataInputs = (n: GraphNode) => n.inputs.filter((r) => !r.startsWith('^'));
  const scalar = (ref: string | undefined): number | undefined => {
    if (ref === undefined) return undefined;
    let n = byName.get(parseInputRef(ref).node);
    for (let hops = 0; n && VALUE_OPS.has(n.op) && hops < 32; hops++) n = byName.get(parseInputRef(dataInputs(n)[0] ?? '').node);
    const a = n?.op === 'Const' ? n.attrs.value : undefined;
    // An axis, a depth, a count: one value (a weight's values are not read for it).
    if (a?.type !== 'tensor' || numElements(a.value.shape) !== 1 || typeof a.value.data.length !== 'number' || a.value.data.length < 1) return undefined;
    const v = Number((a.value.data as ArrayLike<number | bigint>)[0]);
    return Number.isFinite(v) ? v : undefined;
  };
  const shapeOf = (ref: string | undefined): number[] | undefined => {
    if (ref === undefined) return undefined;
    let n = byName.get(parseInputRef(ref).node);
    for (let hops = 0; n && VALUE_OPS.has(n.op) && hops < 32; hops++) n = byName.get(parseInputRef(dataInputs(n)[0] ?? '').node);
    if (!n) return undefined;
    const value = n.attrs.value;
    if (n.op === 'Const' && value?.type === 'tensor') return value.value.shape;
    const shared = n.attrs.shared_name;
    const v = graph.variables?.get(shared?.type === 'string' && shared.value ? shared.value : n.name);
    if (v) return v.shape;
    const s = n.attrs.shape;
    return s?.type === 'shape' && s.value ? s.value : undefined;
  };
  const dimOf = (ref: string | undefined, axis: number | undefined): number | undefined => {
    const shp = shapeOf(ref);
    if (!shp || axis === undefined) return undefined;
    const d = shp[axis < 0 ? axis + shp.length : axis];
    return d !== undefined && d > 0 ? d : undefined;
  };
  const bound = (n: GraphNode, slot: number): number | undefined => {
    const ins = dataInputs(n);
    switch (n.op) {
      case 'Gather': return slot === 1 ? dimOf(ins[0], 0) : undefined;
      case 'GatherV2': return slot === 1 ? dimOf(ins[0], scalar(ins[2])) : undefined;
      case 'ResourceGather': {
        const bd = n.attrs.batch_dims;
        return slot === 1 ? dimOf(ins[0], bd?.type === 'int' ? bd.value : 0) : undefined;
      }
      case 'OneHot': return slot === 0 ? scalar(ins[1]) : undefined;
      case 'UnsortedSegmentSum': case 'UnsortedSegmentMax': case 'UnsortedSegmentMin': case 'UnsortedSegmentProd':
        return slot === 1 ? scalar(ins[2]) : undefined;
      default: return undefined;
    }
  };

  const out = new Map<string, IntRange>();
  for (const input of graph.inputs) {
    if (input.dtype === 'bool' || !(isIntDType(input.dtype) || isFloatDType(input.dtype))) continue;
    const name = normalizeInputName(input.name);
    let high = Infinity;
    const start = parseInputRef(name).node;
    const stack = [start];
    const seen = new Set<string>([start]);
    while (stack.length) {
      const cur = stack.pop()!;
      for (const { node, slot } of users.get(cur) ?? []) {
        const b = bound(node, slot);
        if (b !== undefined && b > 0) high = Math.min(high, b);
        const pass = PASS_THROUGH[node.op];
        if (pass && pass(slot, dataInputs(node).length) && !seen.has(node.name)) {
          seen.add(node.name);
          stack.push(node.name);
        }
      }
    }
    if (Number.isFinite(high)) out.set(name, { low: 0, high: Math.floor(high) });
  }
  return out;
}

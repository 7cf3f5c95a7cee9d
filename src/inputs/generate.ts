import { readFileSync } from 'node:fs';
import seedrandom from 'seedrandom';
import type { DType } from '../core/dtype.js';
import { isFloatDType, isIntDType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import type { HostData, HostTensor, TensorSpec } from '../core/tensor.js';
import { checkTensorBudget, numElements, shapeToString } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { suggest } from '../core/names.js';
import { readNpy } from './npy.js';
import { readNpzFile } from './npz.js';
import type { Distribution, InputSpec } from './spec.js';

/**
 * Seeded input generation. Every input has its own stream, seeded from (seed, input name), so
 * adding, removing or reordering inputs never changes the others, and the same seed gives the
 * same bytes on every machine (seedrandom's ARC4 is platform independent).
 */

function normName(n: string): string {
  return n.endsWith(':0') ? n.slice(0, -2) : n;
}

/** Concrete shape of an input: declared dims, with a given --shape for unknown ones. */
function concreteShape(spec: TensorSpec, given: number[] | undefined): number[] {
  const name = normName(spec.name);
  const declared = spec.shape;
  if (given) {
    if (declared && (declared.length !== given.length || declared.some((d, i) => d >= 0 && d !== given[i]))) {
      throw new InputError(`input '${name}' is declared ${shapeToString(declared)} but --shape gives [${given.join(',')}]`, { node: name });
    }
    return given;
  }
  if (declared === null) throw new InputError(`input '${name}' has unknown rank; give its shape with --shape ${name}:DxDx…`, { node: name });
  const unknown = declared.map((d, i) => (d < 0 ? i : -1)).filter((i) => i >= 0);
  // A leading unknown batch dim defaults to 1; any other unknown dim must be given.
  if (unknown.some((i) => i > 0)) {
    throw new InputError(`input '${name}' is declared ${shapeToString(declared)}; give a concrete shape with --shape ${name}:${declared.map((d, i) => (d < 0 ? (i === 0 ? 1 : 'N') : d)).join('x')}`, { node: name });
  }
  return declared.map((d) => (d < 0 ? 1 : d));
}

function defaultDist(dtype: DType, range: { low: number; high: number } | undefined): Distribution {
  if (dtype === 'bool') return { kind: 'bool', p: 0.5 };
  if (isIntDType(dtype)) return range ? { kind: 'int', low: range.low, high: range.high } : { kind: 'int', low: 0, high: 10 };
  return { kind: 'uniform', low: -1, high: 1 };
}

function makeData(dtype: DType, n: number): HostData {
  switch (dtype) {
    case 'float64': return new Float64Array(n);
    case 'int8': return new Int8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'int32': return new Int32Array(n);
    default: return new Float32Array(n);
  }
}

export function generateOne(spec: TensorSpec, seed: number, override: InputSpec | undefined, range?: { low: number; high: number }): HostTensor {
  const name = normName(spec.name);
  const dtype = override?.dtype ?? spec.dtype;
  if (override?.file) {
    const h = readNpy(new Uint8Array(readFileSync(override.file)), override.file);
    concreteShape({ ...spec, shape: spec.shape }, h.shape);
    return h;
  }
  if (dtype === 'string') throw new InputError(`input '${name}' is a string tensor; give it with --input '${name}=file(values.npy)' or --inputs`, { node: name });
  const shape = concreteShape(spec, override?.shape);
  checkTensorBudget(shape, 8, { node: name });
  const n = numElements(shape);
  const dist = override?.dist ?? defaultDist(dtype, range);
  const rng = seedrandom(`tf-parity:${seed}:${name}`);
  const data = makeData(dtype, n);
  const isBig = data instanceof BigInt64Array || data instanceof BigUint64Array;
  let spare: number | undefined;
  const normal = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    // Box-Muller in float64.
    let u = 0;
    while (u === 0) u = rng.double();
    const v = rng.double();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  for (let i = 0; i < n; i++) {
    let x: number;
    switch (dist.kind) {
      case 'uniform': x = dist.low + (dist.high - dist.low) * rng.double(); break;
      case 'normal': x = dist.mean + dist.std * normal(); break;
      case 'constant': x = dist.value; break;
      case 'int': x = dist.low + Math.floor(rng.double() * (dist.high - dist.low)); break;
      case 'bool': x = rng.double() < dist.p ? 1 : 0; break;
    }
    if (dtype === 'bool') x = x ? 1 : 0;
    else if (!isFloatDType(dtype)) x = Math.round(x);
    if (isBig) (data as BigInt64Array)[i] = BigInt(x) as never;
    else (data as Float32Array)[i] = x;
  }
  return { dtype, shape, data };
}

export interface GenerateOptions {
  seed: number;
  overrides?: InputSpec[];
  intRanges?: Map<string, { low: number; high: number }>;
}

/** Feeds for every model input, keyed by input name (without `:0`). */
export function generateFeeds(specs: TensorSpec[], opts: GenerateOptions): Map<string, HostTensor> {
  const names = specs.map((s) => normName(s.name));
  for (const o of opts.overrides ?? []) {
    if (!names.includes(normName(o.name))) {
      throw new InputError(`'${o.name}' is not an input of the model${suggest(o.name, names)}; inputs: ${names.join(', ')}`, { node: o.name });
    }
  }
  const out = new Map<string, HostTensor>();
  for (const s of specs) {
    const name = normName(s.name);
    const o = opts.overrides?.find((x) => normName(x.name) === name);
    out.set(name, generateOne(s, opts.seed, o, opts.intRanges?.get(name)));
  }
  return out;
}

/** Feeds from a .npz (or one .npy for a single-input model), checked against the model's inputs. */
export function loadFeeds(path: string, specs: TensorSpec[]): Map<string, HostTensor> {
  const arrays = path.endsWith('.npy')
    ? new Map([[normName(specs[0]?.name ?? 'input'), readNpy(new Uint8Array(readFileSync(path)), path)]])
    : readNpzFile(path);
  const out = new Map<string, HostTensor>();
  const names = specs.map((s) => normName(s.name));
  for (const s of specs) {
    const name = normName(s.name);
    const a = arrays.get(name) ?? arrays.get(s.name);
    if (!a) throw new InputError(`${path} has no array for input '${name}' (it has: ${[...arrays.keys()].join(', ') || 'nothing'})`, { file: path, node: name });
    if (s.shape && (s.shape.length !== a.shape.length || s.shape.some((d, i) => d >= 0 && d !== a.shape[i]))) {
      throw new InputError(`${path}: input '${name}' is declared ${shapeToString(s.shape)} but the array is [${a.shape.join(',')}]`, { file: path, node: name });
    }
    const kind = (d: DType) => (isFloatDType(d) ? 'float' : d === 'bool' ? 'bool' : isIntDType(d) ? 'int' : d);
    if (kind(a.dtype) !== kind(s.dtype)) throw new InputError(`${path}: input '${name}' is ${s.dtype} but the array is ${a.dtype}`, { file: path, node: name });
    out.set(name, a);
  }
  for (const k of arrays.keys()) if (!names.includes(normName(k))) throw new InputError(`${path}: array '${k}' is not an input of the model${suggest(k, names)}`, { file: path, node: k });
  return out;
}

/**
 * Valid ranges for integer inputs used as indices: Gather/GatherV2/ResourceGather (params
 * shape along the axis), OneHot (depth), looking through Identity/Cast/Reshape/ExpandDims/Squeeze.
 */
export function inferIntRanges(graph: Graph): Map<string, { low: number; high: number }> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const users = new Map<string, { node: string; slot: number }[]>();
  for (const n of graph.nodes) {
    let slot = 0;
    for (const r of n.inputs) {
      if (r.startsWith('^')) continue;
      const src = parseInputRef(r).node;
      const u = users.get(src) ?? [];
      u.push({ node: n.name, slot: slot++ });
      users.set(src, u);
    }
  }
  const constValue = (ref: string): HostTensor | undefined => {
    const n = byName.get(parseInputRef(ref).node);
    return n?.op === 'Const' && n.attrs.value?.type === 'tensor' ? n.attrs.value.value : undefined;
  };
  const constShape = (ref: string): number[] | undefined => constValue(ref)?.shape ?? (byName.get(parseInputRef(ref).node)?.attrs.shape?.type === 'shape' ? (byName.get(parseInputRef(ref).node)!.attrs.shape as { value: number[] | null }).value ?? undefined : undefined);
  const out = new Map<string, { low: number; high: number }>();
  const PASS = new Set(['Identity', 'Cast', 'Reshape', 'ExpandDims', 'Squeeze', 'StopGradient']);
  for (const input of graph.inputs) {
    const name = normName(input.name);
    if (!isIntDType(input.dtype)) continue;
    let high = Infinity;
    const stack = [name];
    const seen = new Set<string>();
    while (stack.length) {
      const cur = stack.pop()!;
      if (seen.has(cur)) continue;
      seen.add(cur);
      for (const u of users.get(cur) ?? []) {
        const n = byName.get(u.node)!;
        if (PASS.has(n.op) && u.slot === 0) stack.push(n.name);
        else if ((n.op === 'GatherV2' || n.op === 'Gather' || n.op === 'ResourceGather') && u.slot === 1) {
          const shp = constShape(n.inputs[0]!);
          const axisT = n.op === 'GatherV2' ? constValue(n.inputs[2] ?? '') : undefined;
          const ax = axisT ? Number((axisT.data as ArrayLike<number | bigint>)[0]) : 0;
          if (shp && shp.length) {
            const dim = shp[ax < 0 ? ax + shp.length : ax];
            if (dim !== undefined && dim > 0) high = Math.min(high, dim);
          }
        } else if (n.op === 'OneHot' && u.slot === 0) {
          const d = constValue(n.inputs[1] ?? '');
          if (d) high = Math.min(high, Number((d.data as ArrayLike<number | bigint>)[0]));
        }
      }
    }
    if (Number.isFinite(high) && high > 0) out.set(name, { low: 0, high });
  }
  return out;
}

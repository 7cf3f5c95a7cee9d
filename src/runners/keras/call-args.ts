/**
 * The arguments a Keras model config records for one call of a layer or op (an inbound node),
 * as plain data: tensors become references to the call's inputs, constants stay inline.
 *
 * - Keras 3 (`functional.py` serialize_node): `{args: [...], kwargs: {...}}`, every value through
 *   serialization_lib: tensors `{class_name: "__keras_tensor__", config: {keras_history: [layer,
 *   node, index]}}`, `slice` objects `{class_name: "__slice__", config: {start, stop, step}}`,
 *   Ellipsis `{class_name: "__ellipsis__"}`, arrays `__numpy__`/`__tensor__` `{value, dtype}`,
 *   tuples as lists, None as null.
 * - tf.keras 2 (`node.py` Node.serialize): a list of `[layer, node, index, kwargs]`, one per
 *   tensor of the first argument (a constant first argument as `["_CONSTANT_VALUE", -1, value,
 *   kwargs]`); the other arguments by name in `kwargs`, tensors there as `[layer, node, index]`;
 *   slices (SlicingOpLambda) `{start, stop, step}`, Ellipsis `{class_name: "__ellipsis__"}`,
 *   tuples `{class_name: "__tuple__", items}`.
 */

import { isFloatLiteral, plainNumbers } from './config-json.js';

type J = Record<string, unknown>;

/** A constant, a reference to input `$in` of the call, or a structure of them. */
export type Template =
  | null
  | boolean
  | number
  | string
  | Template[]
  | { $in: number }
  | { $slice: [Template, Template, Template] }
  | { $ellipsis: true }
  | { $array: unknown; dtype: string }
  /** A Python float constant (config-json.ts): `2.0` is not `2` for the dtype rules. */
  | { $float: number };

/** Where a tensor comes from: [layer, node index, tensor index]. */
export type TensorRef = [string, number, number];

export interface ParsedCall {
  /** Distinct input tensors of the call, in first-use order. */
  refs: TensorRef[];
  args: Template[];
  kwargs: Record<string, Template>;
}

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export function isRef(t: Template): t is { $in: number } {
  return isObj(t) && '$in' in t;
}

export function isSlice(t: Template): t is { $slice: [Template, Template, Template] } {
  return isObj(t) && '$slice' in t;
}

export function isEllipsis(t: Template): t is { $ellipsis: true } {
  return isObj(t) && '$ellipsis' in t;
}

export function isFloatConst(t: Template): t is { $float: number } {
  return isObj(t) && '$float' in t;
}

export function isArrayConst(t: Template): t is { $array: unknown; dtype: string } {
  return isObj(t) && '$array' in t;
}

/** A tf.keras 2 tensor reference: [str, int, int] or [str, int, int, dict] (utils/tf_utils._is_atomic_nested). */
function isKeras2Ref(v: unknown): v is [string, number, number] {
  return Array.isArray(v) && (v.length === 3 || (v.length === 4 && isObj(v[3]))) && typeof v[0] === 'string' && v[0] !== '_CONSTANT_VALUE' && Number.isInteger(v[1]) && Number.isInteger(v[2]);
}

class Collector {
  readonly refs: TensorRef[] = [];
  ref(r: TensorRef): Template {
    const i = this.refs.findIndex((x) => x[0] === r[0] && x[1] === r[1] && x[2] === r[2]);
    if (i >= 0) return { $in: i };
    this.refs.push(r);
    return { $in: this.refs.length - 1 };
  }
}

function keras3Value(v: unknown, c: Collector): Template {
  if (v === null || v === undefined) return null;
  if (isFloatLiteral(v)) return { $float: v.$float };
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((x) => keras3Value(x, c));
  if (isObj(v)) {
    const cfg = isObj(v.config) ? v.config : {};
    switch (v.class_name) {
      case '__keras_tensor__': {
        const h = cfg.keras_history;
        if (!Array.isArray(h) || typeof h[0] !== 'string') throw new Error('a keras tensor without keras_history');
        return c.ref([h[0], Number(h[1] ?? 0), Number(h[2] ?? 0)]);
      }
      case '__slice__':
        return { $slice: [keras3Value(cfg.start, c), keras3Value(cfg.stop, c), keras3Value(cfg.step, c)] };
      case '__ellipsis__':
        return { $ellipsis: true };
      case '__numpy__':
      case '__tensor__':
        return { $array: plainNumbers(cfg.value), dtype: String(cfg.dtype ?? 'float32') };
      default:
        throw new Error(`an argument of class '${String(v.class_name ?? '?')}' that tf-parity does not read`);
    }
  }
  throw new Error(`an argument ${JSON.stringify(v)} that tf-parity does not read`);
}

function keras2Value(v: unknown, c: Collector): Template {
  if (v === null || v === undefined) return null;
  if (isFloatLiteral(v)) return { $float: v.$float };
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (isKeras2Ref(v)) return c.ref([v[0], v[1], v[2]]);
  if (Array.isArray(v)) return v.map((x) => keras2Value(x, c));
  if (isObj(v)) {
    if (v.class_name === '__ellipsis__') return { $ellipsis: true };
    if (v.class_name === '__tuple__' && Array.isArray(v.items)) return v.items.map((x) => keras2Value(x, c));
    if ('start' in v && 'stop' in v && 'step' in v && Object.keys(v).length === 3) return { $slice: [keras2Value(v.start, c), keras2Value(v.stop, c), keras2Value(v.step, c)] };
    throw new Error(`an argument ${JSON.stringify(v).slice(0, 80)} that tf-parity does not read`);
  }
  throw new Error(`an argument ${JSON.stringify(v)} that tf-parity does not read`);
}

/**
 * One inbound node as {refs, args, kwargs}. For tf.keras 2 nodes the first argument is the
 * node's entries: one entry stands for itself, several for a list (`tf.concat([a, b], ...)`).
 */
export function parseInboundNode(node: unknown): ParsedCall {
  const c = new Collector();
  if (isObj(node)) {
    const args = (Array.isArray(node.args) ? node.args : []).map((a) => keras3Value(a, c));
    const kwargs: Record<string, Template> = {};
    if (isObj(node.kwargs)) for (const [k, v] of Object.entries(node.kwargs)) kwargs[k] = keras3Value(v, c);
    return { refs: c.refs, args, kwargs };
  }
  if (!Array.isArray(node) || node.length === 0) throw new Error('an empty inbound node');
  let kw: unknown = undefined;
  const first = node.map((e) => {
    if (!Array.isArray(e) || e.length < 3) throw new Error(`an inbound entry ${JSON.stringify(e).slice(0, 60)} that is not [layer, node, index, kwargs]`);
    if (kw === undefined && isObj(e[3])) kw = e[3];
    if (e[0] === '_CONSTANT_VALUE') return keras2Value(e[2], c);
    if (typeof e[0] !== 'string') throw new Error(`an inbound entry ${JSON.stringify(e).slice(0, 60)} without a layer name`);
    return c.ref([e[0], Number(e[1]), Number(e[2])]);
  });
  const kwargs: Record<string, Template> = {};
  if (isObj(kw)) for (const [k, v] of Object.entries(kw)) kwargs[k] = keras2Value(v, c);
  return { refs: c.refs, args: [first.length === 1 ? first[0]! : first], kwargs };
}

export interface Param {
  name: string;
  /** Value when not given; `undefined` marks a required parameter. */
  default?: Template;
  /** Collects the remaining positional arguments (`*operands`). */
  variadic?: boolean;
  /** A list parameter (`xs`, `values`): a single tensor given alone stands for a list of one. */
  list?: boolean;
}

/**
 * Binds a call's positional and keyword arguments and the op's own config (Keras 3 ops keep
 * their `__init__` arguments there) to the parameter list; throws on unknown, doubled or
 * missing arguments. `ignore` lists argument names that are known not to change the values.
 */
export function bindArguments(params: readonly Param[], call: Pick<ParsedCall, 'args' | 'kwargs'>, config: Record<string, Template>, ignore: readonly string[] = []): Record<string, Template> {
  const out: Record<string, Template> = {};
  const names = new Set(params.map((p) => p.name));
  const set = (k: string, v: Template, where: string) => {
    if (ignore.includes(k)) return;
    if (!names.has(k)) throw new Error(`unknown argument '${k}' (${where})`);
    if (k in out) throw new Error(`argument '${k}' given twice`);
    out[k] = v;
  };
  let i = 0;
  for (const p of params) {
    if (i >= call.args.length) break;
    // A Keras 3 op's __init__ arguments are in its config; the call's positionals are the rest.
    if (p.name in config && !ignore.includes(p.name)) continue;
    if (p.variadic) {
      out[p.name] = call.args.slice(i);
      i = call.args.length;
      break;
    }
    out[p.name] = call.args[i++]!;
  }
  if (i < call.args.length) throw new Error(`${call.args.length} positional arguments, more than the ${params.length} parameters (${params.map((p) => p.name).join(', ')})`);
  for (const [k, v] of Object.entries(call.kwargs)) set(k, v, 'call');
  for (const [k, v] of Object.entries(config)) set(k, v, 'config');
  for (const p of params) {
    if (!(p.name in out)) {
      if (p.default === undefined && !p.variadic) throw new Error(`missing argument '${p.name}'`);
      out[p.name] = p.variadic ? [] : p.default!;
    }
    if (p.list && isRef(out[p.name]!)) out[p.name] = [out[p.name]!];
  }
  return out;
}

/** Hex of the UTF-8 JSON: survives tfjs' camel-casing of config strings unchanged. */
export function encodeSpec(spec: unknown): string {
  return Buffer.from(JSON.stringify(spec), 'utf8').toString('hex');
}

export function decodeSpec<T>(hex: string): T {
  return JSON.parse(Buffer.from(hex, 'hex').toString('utf8')) as T;
}

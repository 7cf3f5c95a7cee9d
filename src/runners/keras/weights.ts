import { tf } from '../../backend/tf.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import h5wasm, { Dataset, Group, type File as H5File } from 'h5wasm';
import { FormatError, LimitError, ParityError, errorMessage } from '../../core/errors.js';
import { checkTensorBudget, numElements, shapeToString } from '../../core/tensor.js';
import { halfToFloat } from '../../formats/tensor-proto.js';
import type { KerasLayerInfo } from './config.js';
import { MHA_WEIGHT_CHILDREN } from './mha.js';

/**
 * Keras weights read from HDF5 with h5wasm, entirely in memory (h5wasm's own in-memory file
 * system: nothing is written to disk), and assigned to the layers of a tfjs-layers model with
 * every count and shape checked.
 *
 * Keras 3 `model.weights.h5` addresses a model's layers by class, not by name
 * (saving_lib._save_container_state): `layers/<snake_case(class)>[_<n>]/vars/<i>`, `n` counting
 * layers of the same class in `model.layers` order, nested models as
 * `layers/<model class>/layers/...`, sub-objects such as an RNN's `cell` below the layer.
 * Legacy `.h5` (Keras 2, and Keras 3's `save('x.h5')`) keeps `model_weights/<layer name>/` with
 * the attribute `weight_names`.
 */

/** Labels name an archive member as `model.keras[model.weights.h5]`; errors carry the file itself. */
function fileOf(label: string): string {
  return label.replace(/\[[^\]]*\]$/, '');
}

/** A layer whose tfjs variables a file supplies, in the file's order. */
interface FileWeight {
  /** Path inside the HDF5 file (for messages). */
  path: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

type LayerLike = tfl.layers.Layer;

interface H5Module {
  FS: { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void; readFile(p: string): Uint8Array };
  activate_throwing_error_handler?: () => void;
  // What Dataset.value uses inside, for float16 data it has no typed array for (readHalf).
  _malloc?(bytes: number): number;
  _free?(ptr: number): void;
  HEAPU8?: Uint8Array;
  get_dataset_data?(fileId: unknown, path: string, count: null, offset: null, strides: null, ptr: bigint): number;
}

let ready: Promise<H5Module> | undefined;
/** The module once initialised (readDataset is synchronous). */
let loaded: H5Module | undefined;
let seq = 0;

/** The h5wasm module, initialised once (its in-memory FS is what makes disk writes unnecessary). */
export async function h5Module(): Promise<H5Module> {
  ready ??= (h5wasm.ready as unknown as Promise<H5Module>).then((m) => {
    // HDF5 otherwise prints its error stack to stderr; thrown, it becomes part of our message.
    m.activate_throwing_error_handler?.();
    loaded = m;
    return m;
  });
  return ready;
}

/** The innermost reason of an HDF5 error stack ("bad superblock version number"). */
export function h5Reason(e: unknown): string {
  const msg = errorMessage(e);
  const lines = [...msg.matchAll(/#\d+: .*? in (\w+)\(\): (.*)$/gm)];
  const last = lines[lines.length - 1];
  return last ? `${last[2]!.trim()} (${last[1]})` : msg.split('\n')[0]!.slice(0, 200);
}

export function isHdf5(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x48 && bytes[2] === 0x44 && bytes[3] === 0x46;
}

/**
 * Opens HDF5 bytes in h5wasm's in-memory file system and runs `f` on the open file. Any
 * failure that is not already a ParityError becomes a FormatError naming `label`.
 */
export async function withH5<T>(bytes: Uint8Array, label: string, f: (file: H5File) => T | Promise<T>): Promise<T> {
  if (!isHdf5(bytes)) throw new FormatError(`${label}: not an HDF5 file (no HDF5 signature at the start)`, { file: fileOf(label) });
  const m = await h5Module();
  const p = `/parity-${process.pid}-${++seq}.h5`;
  m.FS.writeFile(p, bytes);
  let file: H5File | undefined;
  try {
    try {
      file = new h5wasm.File(p, 'r');
    } catch (e) {
      throw new FormatError(`${label}: corrupt HDF5 file (${h5Reason(e)})`, { file: fileOf(label), cause: e });
    }
    // h5wasm reports some failures only as a zero file id.
    if (!file.file_id) throw new FormatError(`${label}: corrupt HDF5 file (HDF5 could not open it)`, { file: fileOf(label) });
    return await f(file);
  } catch (e) {
    if (e instanceof ParityError) throw e;
    throw new FormatError(`${label}: corrupt HDF5 content (${h5Reason(e)})`, { file: fileOf(label), cause: e });
  } finally {
    try {
      file?.close();
    } catch {
      /* a file HDF5 failed to open has nothing to close */
    }
    try {
      m.FS.unlink(p);
    } catch {
      /* already gone */
    }
  }
}

/** `get` that treats HDF5 lookup failures (bad links, damaged groups) as absence. */
export function h5Get(g: Group, path: string): Group | Dataset | null {
  try {
    const e = g.get(path);
    return e instanceof Group || e instanceof Dataset ? e : null;
  } catch {
    return null;
  }
}

export function h5Keys(g: Group): string[] {
  try {
    return g.keys();
  } catch {
    return [];
  }
}

/** A string-list attribute (h5py writes them as fixed or variable length strings, or bytes). */
export function attrStrings(node: Group | Dataset, name: string): string[] | null {
  const a = node.attrs[name];
  if (!a) return null;
  let v: unknown;
  try {
    v = a.value;
  } catch {
    return null;
  }
  const dec = (x: unknown): string => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x));
  if (Array.isArray(v)) return v.map(dec);
  if (typeof v === 'string') return [v];
  if (v instanceof Uint8Array) return [dec(v)];
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) return []; // h5py's empty list is an empty dataspace
  return null;
}

export function attrString(node: Group | Dataset, name: string): string | null {
  const a = node.attrs[name];
  if (!a) return null;
  try {
    const v = a.value;
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return new TextDecoder().decode(v);
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  } catch {
    return null;
  }
  return null;
}

/** A float16 dataset's values as float32 (each exactly), read through h5wasm's own data call. */
function readHalf(d: Dataset, n: number, littleEndian: boolean): Float32Array {
  const m = loaded;
  const ds = d as unknown as { file_id: unknown; path: string };
  if (!m?._malloc || !m._free || !m.get_dataset_data || !m.HEAPU8) throw new Error('float16 data cannot be read by this h5wasm');
  const bytes = n * 2;
  const ptr = m._malloc(Math.max(bytes, 2));
  if (!ptr) throw new Error(`cannot allocate ${bytes} bytes for float16 data`);
  let raw: Uint8Array;
  try {
    m.get_dataset_data(ds.file_id, ds.path, null, null, null, BigInt(ptr));
    raw = m.HEAPU8.slice(ptr, ptr + bytes);
  } finally {
    m._free(ptr);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, littleEndian));
  return out;
}

export function readDataset(d: Dataset, label: string, path: string, want: 'float32' | 'int32'): FileWeight {
  const shape = (d.shape ?? []).map(Number);
  checkTensorBudget(shape, 4, { file: fileOf(label), node: path });
  let v: unknown;
  // A float dataset stays float even where the layer holds int32 weights too (Normalization's
  // mean beside its count): assign() casts each value to its own weight's dtype.
  let isFloat = false;
  try {
    const meta = d.metadata as { type?: number; size?: number; littleEndian?: boolean; total_size?: number } | undefined;
    isFloat = meta?.type === 1;
    // float16 (Keras models in dtype float16): h5wasm has no typed array for it.
    v = meta?.type === 1 && meta.size === 2 ? readHalf(d, meta.total_size ?? 0, meta.littleEndian !== false) : d.value;
  } catch (e) {
    if (e instanceof ParityError) throw e;
    throw new FormatError(`${label}: cannot read weight '${path}' (${h5Reason(e)})`, { file: fileOf(label), node: path });
  }
  let data: Float32Array | Int32Array | null = null;
  // int64 (Keras' `dtype="int"` variables): as numbers, refused past int32 where int32 is wanted.
  if (typeof v === 'bigint') v = BigInt64Array.of(v);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
    const big = Array.from(v as BigInt64Array, (x) => x);
    if (want === 'int32' && big.some((x) => x < -2147483648n || x > 2147483647n)) {
      throw new FormatError(`${label}: weight '${path}' holds int64 values outside the int32 range`, { file: fileOf(label), node: path });
    }
    v = want === 'int32' ? Int32Array.from(big, Number) : Float32Array.from(big, Number);
  }
  if (typeof v === 'number') data = want === 'int32' && !isFloat ? Int32Array.of(v) : Float32Array.of(v);
  else if (v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array || v instanceof Int16Array || v instanceof Int8Array || v instanceof Uint8Array || v instanceof Uint16Array || v instanceof Uint32Array) {
    data = want === 'int32' && !isFloat && !(v instanceof Float32Array || v instanceof Float64Array) ? (v instanceof Int32Array ? v : Int32Array.from(v)) : v instanceof Float32Array ? v : Float32Array.from(v);
  }
  if (!data) throw new FormatError(`${label}: weight '${path}' holds ${JSON.stringify(d.dtype)} data, not numbers tf-parity can load`, { file: fileOf(label), node: path });
  const n = numElements(shape);
  if (data.length !== n) throw new FormatError(`${label}: weight '${path}' declares shape ${shapeToString(shape)} but holds ${data.length} values`, { file: fileOf(label), node: path });
  return { path, shape, data };
}

function weightName(w: tfl.LayerVariable): string {
  return w.originalName ?? w.name;
}

/**
 * Sets one layer's variables from `values` (in the layer's `weights` order): the count and every
 * shape must match; errors name the layer, the weight and both shapes.
 */
function assign(layer: LayerLike, values: FileWeight[], label: string, displayName: string, warnings: string[]): void {
  const want = layer.weights;
  if (values.length < want.length) {
    const missing = want.slice(values.length).map(weightName);
    throw new FormatError(
      `${label}: layer '${displayName}' (${layer.getClassName()}) is missing weight(s) ${missing.map((m) => `'${m}'`).join(', ')}: ` +
        `the layer needs ${want.length}, the file has ${values.length}${values.length ? ` (${values.map((v) => v.path).join(', ')})` : ''}`,
      { file: fileOf(label), node: displayName },
    );
  }
  if (values.length > want.length) {
    warnings.push(`${label}: layer '${displayName}' has ${values.length - want.length} extra weight(s) in the file, ignored: ${values.slice(want.length).map((v) => v.path).join(', ')}`);
  }
  const tensors: tf.Tensor[] = [];
  try {
    want.forEach((w, i) => {
      const v = values[i]!;
      if (v.shape.length !== w.shape.length || v.shape.some((d, j) => d !== w.shape[j])) {
        throw new FormatError(
          `${label}: layer '${displayName}' weight '${weightName(w)}' has shape ${shapeToString(v.shape)} in the file (${v.path}) but the layer expects ${shapeToString(w.shape as number[])}`,
          { file: fileOf(label), node: displayName },
        );
      }
      const data = w.dtype === 'int32' && v.data instanceof Float32Array ? Int32Array.from(v.data) : w.dtype !== 'int32' && v.data instanceof Int32Array ? Float32Array.from(v.data) : v.data;
      tensors.push(tf.tensor(data, v.shape, w.dtype === 'int32' ? 'int32' : 'float32'));
    });
    layer.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/** Python's keras naming.to_snake_case. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function isModel(layer: LayerLike): layer is tfl.LayersModel {
  const c = layer.getClassName();
  return c === 'Sequential' || c === 'Model' || c === 'Functional';
}

function findLayer(model: tfl.LayersModel, name: string): LayerLike | undefined {
  return model.layers.find((l) => l.name === name);
}

/** Variables below a Keras 3 object path, in save order: own `vars`, then sub-objects. */
function keras3Vars(f: H5File, logical: string, className: string, label: string, want: 'float32' | 'int32'): FileWeight[] {
  const path = keras3Group(f, logical);
  const g = path === null ? null : h5Get(f, path);
  if (!(g instanceof Group) || path === null) return [];
  const out: FileWeight[] = [];
  const vars = h5Get(g, 'vars');
  if (vars instanceof Group) {
    const keys = h5Keys(vars).filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    for (const k of keys) {
      const d = h5Get(vars, k);
      if (d instanceof Dataset) out.push(readDataset(d, label, `${path}/vars/${k}`, want));
    }
  }
  let children = h5Keys(g).filter((k) => k !== 'vars');
  // Saved on Windows (see keras3Group): sub-objects are groups of the root named `<path>\<child>`.
  if (path.includes('\\')) children.push(...h5Keys(f).filter((k) => k.startsWith(`${path}\\`) && !k.slice(path.length + 1).includes('\\')).map((k) => k.slice(path.length + 1)));
  // Keras walks attributes sorted by name, private ones last; tfjs orders Bidirectional forward first.
  children.sort((a, b) => (a.startsWith('_') ? '~' + a : a).localeCompare(b.startsWith('_') ? '~' + b : b));
  if (className === 'Bidirectional') children = ['forward_layer', 'backward_layer', ...children.filter((c) => c !== 'forward_layer' && c !== 'backward_layer')];
  // MultiHeadAttention's variables are query, key, value, output (Keras' layer.weights order).
  if (className === 'MultiHeadAttention') {
    const at = (c: string) => (MHA_WEIGHT_CHILDREN as readonly string[]).indexOf(c.replace(/^_/, '')) + 1 || 99;
    children = [...children].sort((a, b) => at(a) - at(b));
  }
  for (const c of children) {
    if (c === 'layers' && className !== 'Sequential' && className !== 'Functional') continue;
    out.push(...keras3Vars(f, `${logical}/${c}`, '', label, want));
  }
  return out;
}

/**
 * The HDF5 group holding Keras 3 object path `logical` (`layers/conv1d`), or null. tf.keras
 * 2.13-2.15 on Windows joined object paths with the OS separator, so each object's group sits at
 * the root under one name with backslashes (`layers\\conv1d`, holding `vars`).
 */
function keras3Group(f: H5File, logical: string): string | null {
  if (h5Get(f, logical) instanceof Group) return logical;
  const windows = logical.replace(/\//g, '\\');
  return windows !== logical && h5Get(f, windows) instanceof Group ? windows : null;
}

/**
 * Keras 3 `model.weights.h5`. `infos` is the layer list of the config (Keras' `model.layers`
 * order), `prefix` the path of the enclosing model ('' at the top).
 */
export function loadKeras3Weights(model: tfl.LayersModel, infos: KerasLayerInfo[], f: H5File, label: string, warnings: string[], prefix = '', display = ''): void {
  const containerName = keras3Group(f, `${prefix}layers`) !== null || !keras3Group(f, `${prefix}_layer_checkpoint_dependencies`) ? 'layers' : '_layer_checkpoint_dependencies';
  const container = `${prefix}${containerName}`;
  const counts = new Map<string, number>();
  const entries = infos.map((info) => {
    const base = toSnakeCase(info.className);
    const n = counts.get(base);
    counts.set(base, n === undefined ? 0 : n + 1);
    const byClass = n === undefined ? base : `${base}_${n + 1}`;
    return { info, layer: findLayer(model, info.name), byClass: `${container}/${byClass}`, byName: `${container}/${info.name}` };
  });
  // A nested model without any weight (augmentation layers) may have no group at all.
  const needed = entries.filter((e) => e.layer && e.layer.weights.length > 0);
  // Keras writes class-based paths; files written by other tools sometimes use layer names.
  const exists = (p: string) => keras3Group(f, p) !== null;
  const byName = !needed.every((e) => exists(e.byClass)) && needed.length > 0 && needed.every((e) => exists(e.byName));
  const used = new Set<string>();
  for (const e of needed) {
    const layer = e.layer!;
    const path = byName ? e.byName : exists(e.byClass) ? e.byClass : exists(e.byName) ? e.byName : e.byClass;
    used.add(path);
    const shown = display + layer.name;
    if (e.info.layers && isModel(layer)) {
      if (!exists(path)) throw new FormatError(`${label}: no weights for nested model '${shown}' (expected group '${e.byClass}')`, { file: fileOf(label), node: shown });
      loadKeras3Weights(layer, e.info.layers, f, label, warnings, `${path}/`, `${shown}/`);
      continue;
    }
    if (!exists(path)) {
      throw new FormatError(
        `${label}: no weights for layer '${shown}' (${layer.getClassName()}): expected group '${e.byClass}' holding ${layer.weights.map((w) => `'${weightName(w)}'`).join(', ')}`,
        { file: fileOf(label), node: shown },
      );
    }
    const want = layer.weights.some((w) => w.dtype === 'int32') ? 'int32' : 'float32';
    assign(layer, keras3Vars(f, path, e.info.className, label, want), label, shown, warnings);
  }
  const group = h5Get(f, container);
  if (group instanceof Group) {
    for (const k of h5Keys(group)) {
      const p = `${container}/${k}`;
      if (used.has(p)) continue;
      const extra = keras3Vars(f, p, '', label, 'float32');
      if (extra.length) warnings.push(`${label}: group '${p}' holds ${extra.length} weight(s) no layer of the model uses; ignored`);
    }
  }
}

function lastKey(name: string): string {
  return name.replace(/:\d+$/, '').split('/').pop()!;
}

/** File weight names in the layer's order: by variable name when unambiguous, else in file order (as Keras does). */
function orderLegacy(layer: LayerLike, names: string[]): string[] {
  const want = layer.weights.map((w) => lastKey(weightName(w)));
  const have = names.map(lastKey);
  const unique = (xs: string[]) => new Set(xs).size === xs.length;
  if (unique(want) && unique(have) && want.every((k) => have.includes(k))) {
    const rest = names.filter((n) => !want.includes(lastKey(n)));
    return [...want.map((k) => names[have.indexOf(k)]!), ...rest];
  }
  return names;
}

function leafLayers(model: tfl.LayersModel): LayerLike[] {
  return model.layers.flatMap((l) => (isModel(l) ? leafLayers(l) : [l]));
}

/** Legacy `.h5` weights under `root` (group `model_weights` of a saved model). */
export function loadLegacyWeights(model: tfl.LayersModel, f: H5File, label: string, warnings: string[], root = 'model_weights'): void {
  const rootGroup = h5Get(f, root);
  if (!(rootGroup instanceof Group)) throw new FormatError(`${label}: no '${root}' group: the file has an architecture but no weights`, { file: fileOf(label) });
  const fileLayers = attrStrings(rootGroup, 'layer_names') ?? h5Keys(rootGroup);
  const used = new Set<string>();
  const read = (group: string, n: string, want: 'float32' | 'int32'): FileWeight => {
    const d = h5Get(f, `${root}/${group}/${n}`);
    if (!(d instanceof Dataset)) {
      throw new FormatError(`${label}: layer '${group}' is missing weight '${n}': weight_names lists it, but there is no dataset '${root}/${group}/${n}'`, { file: fileOf(label), node: group });
    }
    return readDataset(d, label, `${root}/${group}/${n}`, want);
  };
  const dtypeOf = (l: LayerLike) => (l.weights.some((w) => w.dtype === 'int32') ? 'int32' : 'float32');
  for (const layer of model.layers) {
    if (!layer.weights.length) continue;
    const g = h5Get(f, `${root}/${layer.name}`);
    if (!(g instanceof Group)) {
      throw new FormatError(
        `${label}: no weights for layer '${layer.name}' (${layer.getClassName()}): expected group '${root}/${layer.name}' holding ${layer.weights.map((w) => `'${weightName(w)}'`).join(', ')}`,
        { file: fileOf(label), node: layer.name },
      );
    }
    used.add(layer.name);
    const names = attrStrings(g, 'weight_names') ?? [];
    if (isModel(layer)) {
      // A nested model's weights sit in one group; each name carries the inner layer's name.
      const taken = new Set<string>();
      for (const inner of leafLayers(layer)) {
        if (!inner.weights.length) continue;
        const mine = names.filter((n) => !taken.has(n) && n.split('/').slice(0, -1).includes(inner.name));
        mine.forEach((n) => taken.add(n));
        assign(inner, orderLegacy(inner, mine).map((n) => read(layer.name, n, dtypeOf(inner))), label, `${layer.name}/${inner.name}`, warnings);
      }
      continue;
    }
    assign(layer, orderLegacy(layer, names).map((n) => read(layer.name, n, dtypeOf(layer))), label, layer.name, warnings);
  }
  for (const name of fileLayers) {
    if (used.has(name)) continue;
    const g = h5Get(f, `${root}/${name}`);
    const names = g instanceof Group ? attrStrings(g, 'weight_names') ?? [] : [];
    if (names.length) warnings.push(`${label}: the file has weights for layer '${name}' that the model does not use; ignored`);
  }
}

/** Rejects HDF5 inputs that would blow the memory budget before h5wasm copies them. */
export function checkH5Size(bytes: Uint8Array, label: string): void {
  const max = Number(process.env.PARITY_MAX_H5_BYTES ?? 2 * 1024 ** 3);
  if (bytes.length > max) throw new LimitError(`${label}: ${bytes.length} bytes is over the HDF5 size limit of ${max} bytes (PARITY_MAX_H5_BYTES)`, { file: fileOf(label) });
}

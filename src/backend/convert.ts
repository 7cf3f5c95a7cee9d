import { tf } from './tf.js';
import type { DType } from '../core/dtype.js';
import { isWideDType, toTfjsDType } from '../core/dtype.js';
import { ExecutionError } from '../core/errors.js';
import type { HostData, HostTensor } from '../core/tensor.js';
import { storedBytes } from '../core/tensor.js';

/**
 * What a tfjs tensor stands for in TensorFlow when tfjs holds it in another type: its TF dtype
 * (int64 held as int32, float64 as float32, int8 as int32), and, when tfjs narrowed its values
 * (float64, int64, uint32, uint64), the exact values it was made from. A float64 input that is
 * only moved (Identity, Reshape) keeps its exact values this way, and is saved and shown as the
 * float64 it is. Kept per tensor object: `hostToTf` sets it, the interpreter sets it on every
 * output it computes (interpreter/dtypes.ts), `tfToHost` reads it.
 */
export interface TfView {
  dtype: DType;
  /** The exact values in `dtype`, same shape as the tensor; read-only. */
  exact?: HostTensor;
}

const views = new WeakMap<tf.Tensor, TfView>();

/** Records what `t` stands for in TF (nothing when its tfjs dtype says it all). Returns `t`. */
export function setTfView(t: tf.Tensor, dtype: DType, exact?: HostTensor): tf.Tensor {
  if (dtype === t.dtype && !exact) views.delete(t);
  else views.set(t, exact ? { dtype, exact } : { dtype });
  return t;
}

/** `t`'s TensorFlow dtype: the one recorded for it, else its tfjs dtype. */
export function tfDTypeOf(t: tf.Tensor): DType {
  return views.get(t)?.dtype ?? (t.dtype as DType);
}

/** The exact values of a tensor tfjs holds narrowed (float64, int64, uint32, uint64), when known. */
export function exactOf(t: tf.Tensor): HostTensor | undefined {
  return views.get(t)?.exact;
}

/** Gives `dst` (a share or reshape of `src`) what `src` stands for in TF. Returns `dst`. */
export function sameView(dst: tf.Tensor, src: tf.Tensor): tf.Tensor {
  const v = views.get(src);
  if (!v) return dst;
  const exact = v.exact && { ...v.exact, shape: dst.shape.slice() };
  return setTfView(dst, v.dtype, exact);
}

/**
 * HostTensor -> tfjs tensor. tfjs computes in float32/int32/bool/string, so float64 and half types
 * become float32 and every integer type becomes int32. 64-bit integers outside the int32 range
 * cannot be represented: they are refused with an error naming `what`, never wrapped silently,
 * except INT64 max/min sentinels (used by StridedSlice ends) which clamp to int32 max/min.
 * The tensor remembers `h`'s dtype, and for a wide dtype its exact values (TfView).
 */
export function hostToTf(h: HostTensor, what = 'tensor'): tf.Tensor {
  const t = hostToTfValues(h, what);
  return setTfView(t, h.dtype, isWideDType(h.dtype) ? h : undefined);
}

function hostToTfValues(h: HostTensor, what: string): tf.Tensor {
  const dt = toTfjsDType(h.dtype);
  const shape = h.shape;
  if (h.dtype === 'string') {
    return tf.tensor(h.data as Uint8Array[], shape, 'string');
  }
  if (h.dtype === 'complex64' || h.dtype === 'complex128') {
    const d = h.data as Float32Array | Float64Array;
    const n = d.length / 2;
    const re = new Float32Array(n);
    const im = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      re[i] = d[2 * i]!;
      im[i] = d[2 * i + 1]!;
    }
    return tf.complex(tf.tensor(re, shape), tf.tensor(im, shape));
  }
  const bytes = storedBytes(h);
  if (bytes && h.dtype === dt && (dt === 'float32' || dt === 'int32')) return tensorFromBytes(bytes, shape, dt);
  if (dt === 'float32') {
    const d = h.data;
    const f = d instanceof Float32Array ? d : Float32Array.from(d as Float64Array);
    return tf.tensor(f, shape, 'float32');
  }
  if (dt === 'bool') {
    return tf.tensor(h.data as Uint8Array, shape, 'bool');
  }
  // integers
  const d = h.data;
  if (d instanceof Int32Array) return tf.tensor(d, shape, 'int32');
  const out = new Int32Array(d.length);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v > 2147483647n) {
        if (v >= 9223372036854775807n) out[i] = 2147483647;
        else throw new ExecutionError(`${what}: int64 value ${v} does not fit in int32 (tfjs computes integers in int32)`);
      } else if (v < -2147483648n) {
        if (v <= -9223372036854775808n) out[i] = -2147483648;
        else throw new ExecutionError(`${what}: int64 value ${v} does not fit in int32 (tfjs computes integers in int32)`);
      } else out[i] = Number(v);
    }
  } else {
    const src = d as Int8Array | Int16Array | Uint8Array | Uint16Array | Uint32Array;
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      if (v > 2147483647) throw new ExecutionError(`${what}: uint32 value ${v} does not fit in int32 (tfjs computes integers in int32)`);
      out[i] = v;
    }
  }
  return tf.tensor(out, shape, 'int32');
}

/** What tensorFromBytes uses of tfjs-backend-wasm: the two methods its own kernels make outputs with. */
interface WasmOutputs {
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): { dataId: object; shape: number[]; dtype: 'float32' | 'int32' };
  typedArrayFromHeap(info: { dataId: object; shape: number[]; dtype: 'float32' | 'int32' }): Float32Array | Int32Array;
}

let scratch: Uint8Array | undefined;

/**
 * `dst.set(src)`, through a 1 MiB aligned scratch buffer when `src` is unaligned: V8 copies into a
 * shared memory (the wasm heap, backend/shared-heap.ts) word by word only from an aligned source,
 * else byte by byte, which took twice as long as the two copies (64 MB: 270 against 135 ms).
 */
function copyInto(dst: Uint8Array, src: Uint8Array): void {
  if (src.byteOffset % 8 === dst.byteOffset % 8 || src.length < 1 << 16) {
    dst.set(src);
    return;
  }
  scratch ??= new Uint8Array(1 << 20);
  for (let at = 0; at < src.length; at += scratch.length) {
    const part = src.subarray(at, at + scratch.length);
    scratch.set(part);
    dst.set(part.length === scratch.length ? scratch : scratch.subarray(0, part.length), at);
  }
}

/**
 * A float32/int32 tensor made from little-endian bytes at any alignment (a constant's bytes in
 * its file's buffer), copied once: on wasm straight into the heap block the backend allocates for
 * it, with the calls its own kernels make outputs with; elsewhere through an aligned copy, which
 * the backend (cpu) keeps as the tensor's storage.
 */
function tensorFromBytes(bytes: Uint8Array, shape: number[], dtype: 'float32' | 'int32'): tf.Tensor {
  if (bytes.length !== 4 * shape.reduce((a, d) => a * d, 1)) throw new ExecutionError(`${bytes.length} bytes cannot hold a ${dtype}[${shape}] tensor`);
  const b = tf.backend() as unknown as Partial<WasmOutputs>;
  if (tf.getBackend() === 'wasm' && typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function') {
    const info = b.makeOutput(shape, dtype);
    const heap = b.typedArrayFromHeap(info);
    copyInto(new Uint8Array(heap.buffer, heap.byteOffset, heap.byteLength), bytes);
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  // A copy in a buffer of its own (`slice` of a Node Buffer would be a view into its pool).
  const aligned = new Uint8Array(bytes).buffer;
  return tf.tensor(dtype === 'float32' ? new Float32Array(aligned) : new Int32Array(aligned), shape, dtype);
}

/**
 * tfjs tensor -> HostTensor (synchronous read), in `as`, else in the TF dtype the tensor stands
 * for (TfView), else its tfjs dtype. Exact values recorded for it are returned as they are.
 */
export function tfToHost(t: tf.Tensor, as?: DType): HostTensor {
  const shape = t.shape.slice();
  const view = views.get(t);
  const dtype: DType = as ?? view?.dtype ?? (t.dtype as DType);
  if (view?.exact && view.exact.dtype === dtype) return { dtype, shape, data: view.exact.data };
  if (t.dtype === 'string') {
    return { dtype: 'string', shape, data: stringBytes(t) };
  }
  if (t.dtype === 'complex64') {
    const re = tf.real(t);
    const im = tf.imag(t);
    const r = re.dataSync() as Float32Array;
    const i = im.dataSync() as Float32Array;
    re.dispose();
    im.dispose();
    const d = new Float32Array(r.length * 2);
    for (let k = 0; k < r.length; k++) {
      d[2 * k] = r[k]!;
      d[2 * k + 1] = i[k]!;
    }
    return { dtype: 'complex64', shape, data: d };
  }
  const raw = t.dataSync();
  return { dtype, shape, data: castHostData(raw as Float32Array | Int32Array | Uint8Array, dtype) };
}

function castHostData(src: Float32Array | Int32Array | Uint8Array, dtype: DType): HostData {
  switch (dtype) {
    case 'float32': case 'float16': case 'bfloat16':
      return src instanceof Float32Array ? src.slice() : Float32Array.from(src);
    case 'float64': return Float64Array.from(src);
    case 'int32': return src instanceof Int32Array ? src.slice() : Int32Array.from(src);
    case 'int8': case 'qint8': return Int8Array.from(src);
    case 'int16': case 'qint16': return Int16Array.from(src);
    case 'uint8': case 'bool': case 'quint8': return Uint8Array.from(src);
    case 'uint16': case 'quint16': return Uint16Array.from(src);
    case 'qint32': return src instanceof Int32Array ? src.slice() : Int32Array.from(src);
    case 'uint32': return Uint32Array.from(src, (v) => unsigned(v, dtype));
    case 'int64': return BigInt64Array.from(Array.from(src, (v) => BigInt(Math.trunc(v))));
    case 'uint64': return BigUint64Array.from(Array.from(src, (v) => BigInt(unsigned(Math.trunc(v), dtype))));
    default: return Float32Array.from(src);
  }
}

/** A value read as unsigned: a negative one would wrap silently, so it is an error. */
function unsigned(v: number, dtype: DType): number {
  if (v < 0) throw new ExecutionError(`value ${v} cannot be held as ${dtype}`);
  return v;
}

/**
 * The bytes of a string tensor's elements, as they are (TF strings are bytes): tfjs'
 * `dataSync()` would decode them as UTF-8, which mangles any other bytes.
 */
export function stringBytes(t: tf.Tensor): Uint8Array[] {
  const vals = tf.engine().readSync(t.dataId) as unknown as (Uint8Array | string)[];
  return vals.map((v) => (typeof v === 'string' ? new TextEncoder().encode(v) : v));
}

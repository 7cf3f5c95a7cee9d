import type { DType } from './dtype.js';
import { LimitError } from './errors.js';

/**
 * A tensor held on the host, independent of tfjs: what formats decode into and
 * what .npy/.npz and checkpoints read and write.
 *
 * data by dtype:
 *  float32/float16/bfloat16 -> Float32Array (half types already widened; dtype keeps the original)
 *  float64 -> Float64Array, int8 -> Int8Array, int16 -> Int16Array, int32 -> Int32Array,
 *  int64 -> BigInt64Array, uint8 -> Uint8Array, uint16 -> Uint16Array, uint32 -> Uint32Array,
 *  uint64 -> BigUint64Array, bool -> Uint8Array (0/1), string -> Uint8Array[] (raw bytes),
 *  complex64 -> Float32Array (interleaved re,im), complex128 -> Float64Array (interleaved)
 */
export type HostData =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | Uint8Array[];

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostData;
}

const storedBytesOf = new WeakMap<HostTensor, Uint8Array>();

/**
 * A HostTensor whose values stay in the little-endian bytes they were read from (a view into a
 * file's buffer at an offset not aligned for the element type), not copied out at read time:
 * `data` makes the aligned typed array (`decode`) on first read and keeps it. An uploader that
 * can copy bytes as they are (into the wasm heap) takes them from `storedBytes` and never makes
 * that copy, so a big model's weights sit in memory once, in the file's buffer.
 */
export function bytesBackedTensor(dtype: DType, shape: number[], bytes: Uint8Array, decode: (bytes: Uint8Array) => HostData): HostTensor {
  let data: HostData | undefined;
  const h: HostTensor = {
    dtype,
    shape,
    get data(): HostData {
      return (data ??= decode(bytes));
    },
    set data(v: HostData) {
      data = v;
      storedBytesOf.delete(h);
    },
  };
  storedBytesOf.set(h, bytes);
  return h;
}

/** The little-endian bytes a HostTensor's values were left in (`bytesBackedTensor`), if any. */
export function storedBytes(h: HostTensor): Uint8Array | undefined {
  return storedBytesOf.get(h);
}

/** A shape with -1 for unknown dimensions; null means unknown rank. */
export type Shape = number[] | null;

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: Shape;
  /**
   * The key a SavedModel signature gives this input (`x` for the tensor `serving_default_x`):
   * TF Serving, saved_model_cli and tfjs-node feed by it; tf-parity accepts either name.
   */
  alias?: string;
}

export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeToString(shape: Shape): string {
  if (shape === null) return '<unknown rank>';
  return '[' + shape.map((d) => (d < 0 ? '?' : String(d))).join(',') + ']';
}

/**
 * Default memory budget for one decoded tensor (bytes). Declared sizes are checked
 * against it before anything is allocated. Override with PARITY_MAX_TENSOR_BYTES.
 */
export function maxTensorBytes(): number {
  const env = process.env.PARITY_MAX_TENSOR_BYTES;
  if (env && /^\d+$/.test(env)) return Number(env);
  return 4 * 1024 ** 3;
}

/** Throws a LimitError when a declared tensor would exceed the memory budget. */
export function checkTensorBudget(shape: readonly number[], bytesPerElement: number, what: { file?: string; node?: string }): void {
  let n = 1;
  for (const d of shape) {
    if (!Number.isFinite(d) || d < 0) {
      throw new LimitError(`declared shape ${shapeToString([...shape])} is invalid${what.node ? ` for ${what.node}` : ''}${what.file ? ` in ${what.file}` : ''}`, what);
    }
    n *= d;
  }
  const bytes = n * Math.max(1, bytesPerElement);
  if (bytes > maxTensorBytes()) {
    throw new LimitError(
      `declared tensor of shape ${shapeToString([...shape])} needs ${bytes} bytes, over the budget of ${maxTensorBytes()} bytes (PARITY_MAX_TENSOR_BYTES)` +
        `${what.node ? ` for ${what.node}` : ''}${what.file ? ` in ${what.file}` : ''}`,
      what,
    );
  }
}

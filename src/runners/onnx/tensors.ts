import { tf } from '../../backend/tf.js';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { DType } from '../../core/dtype.js';
import { ExecutionError, InputError } from '../../core/errors.js';
import { halfBits, halfValue } from '../../inputs/float.js';

/** onnxruntime's element type names (ort.Tensor.Type). */
export type OrtType = OrtTensor.Type;

/** ONNX TensorProto.DataType -> onnxruntime type, for the types onnxruntime-node can hand over. */
export const ORT_TYPE_OF_ELEM: Partial<Record<number, OrtType>> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

export const ELEM_OF_ORT_TYPE: Partial<Record<string, number>> = Object.fromEntries(
  Object.entries(ORT_TYPE_OF_ELEM).map(([k, v]) => [v, Number(k)]),
);

/** ONNX element type -> tf-parity DType (TensorSpec), for the input listing. */
export const DTYPE_OF_ELEM: Partial<Record<number, DType>> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};

/** The onnxruntime type a tfjs tensor is fed as when the model does not say. */
export function ortTypeOfTf(t: tf.Tensor): OrtType {
  return t.dtype === 'int32' ? 'int32' : t.dtype === 'bool' ? 'bool' : t.dtype === 'string' ? 'string' : 'float32';
}

const INT32_MAX = 2147483647n;
const INT32_MIN = -2147483648n;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export interface Where {
  file: string;
  /** Value (tensor) name, for messages. */
  name: string;
  /**
   * The value is only used as Slice starts/ends (OnnxModel.indexValues): ONNX clamps those to
   * the dimension, so 64-bit values beyond int32 read as the int32 bound, which means the same.
   */
  sliceIndex?: boolean;
}

/**
 * tfjs tensor -> onnxruntime tensor of the type the model declares. tfjs holds every integer as
 * int32 and every float as float32, so the conversion widens or narrows; narrowing checks range.
 */
export function tfToOrt(ort: typeof import('onnxruntime-node'), t: tf.Tensor, type: OrtType, at: Where): OrtTensor {
  const shape = t.shape.slice();
  if (type === 'string') {
    if (t.dtype !== 'string') throw new InputError(`${at.file}: input '${at.name}' expects strings, got a ${t.dtype} tensor`, { file: at.file, node: at.name });
    const raw = t.dataSync() as unknown as (Uint8Array | string)[];
    return new ort.Tensor('string', raw.map((v) => (typeof v === 'string' ? v : new TextDecoder().decode(v))), shape);
  }
  if (t.dtype === 'string' || t.dtype === 'complex64') {
    throw new InputError(`${at.file}: input '${at.name}' expects ${type}, got a ${t.dtype} tensor`, { file: at.file, node: at.name });
  }
  const d = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  const intRange = (lo: number, hi: number): void => {
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (!(v >= lo && v <= hi) || Math.trunc(v) !== v) {
        throw new InputError(`${at.file}: input '${at.name}' is ${type}, but element ${i} of the feed is ${v}`, { file: at.file, node: at.name });
      }
    }
  };
  switch (type) {
    case 'float32': return new ort.Tensor('float32', d instanceof Float32Array ? d.slice() : Float32Array.from(d), shape);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(d), shape);
    case 'float16': return new ort.Tensor('float16', Uint16Array.from(d, (v) => halfBits(v)), shape);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(d, (v) => (v ? 1 : 0)), shape);
    case 'int64': intRange(-(2 ** 53), 2 ** 53); return new ort.Tensor('int64', BigInt64Array.from(d, (v) => BigInt(v)), shape);
    case 'uint64': intRange(0, 2 ** 53); return new ort.Tensor('uint64', BigUint64Array.from(d, (v) => BigInt(v)), shape);
    case 'int32': intRange(-2147483648, 2147483647); return new ort.Tensor('int32', Int32Array.from(d), shape);
    case 'uint32': intRange(0, 4294967295); return new ort.Tensor('uint32', Uint32Array.from(d), shape);
    case 'int16': intRange(-32768, 32767); return new ort.Tensor('int16', Int16Array.from(d), shape);
    case 'uint16': intRange(0, 65535); return new ort.Tensor('uint16', Uint16Array.from(d), shape);
    case 'int8': intRange(-128, 127); return new ort.Tensor('int8', Int8Array.from(d), shape);
    case 'uint8': intRange(0, 255); return new ort.Tensor('uint8', Uint8Array.from(d), shape);
    default:
      throw new InputError(`${at.file}: input '${at.name}' has element type ${type}, which tf-parity cannot feed`, { file: at.file, node: at.name });
  }
}

/**
 * onnxruntime tensor -> tfjs tensor (float32/int32/bool/string). 64-bit integers must fit in
 * int32, except the INT64 max/min sentinels and any value of a Slice index (at.sliceIndex),
 * which clamp to the int32 bounds: ONNX clamps Slice starts/ends to the dimension, and so does
 * the reference interpreter. Any other value outside int32 is an error, never wrapped.
 */
export function ortToTf(t: OrtTensor, at: Where): tf.Tensor {
  const shape = t.dims.map(Number);
  const d: unknown = t.data;
  switch (t.type) {
    case 'float32': return tf.tensor(d as Float32Array, shape, 'float32');
    case 'float64': return tf.tensor(Float32Array.from(d as Float64Array), shape, 'float32');
    case 'float16': {
      // onnxruntime-node hands float16 over as raw binary16 bits unless the platform has Float16Array.
      if (d instanceof Uint16Array) return tf.tensor(Float32Array.from(d, (b) => halfValue(b)), shape, 'float32');
      return tf.tensor(Float32Array.from(d as ArrayLike<number>), shape, 'float32');
    }
    case 'int32': return tf.tensor(d as Int32Array, shape, 'int32');
    case 'int8': case 'uint8': case 'int16': case 'uint16':
      return tf.tensor(Int32Array.from(d as ArrayLike<number>), shape, 'int32');
    case 'uint32': {
      const u = d as Uint32Array;
      const out = new Int32Array(u.length);
      for (let i = 0; i < u.length; i++) {
        if (u[i]! > 2147483647) throw outOfRange(at, BigInt(u[i]!), i);
        out[i] = u[i]!;
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'int64': case 'uint64': {
      const b = d as BigInt64Array | BigUint64Array;
      const out = new Int32Array(b.length);
      for (let i = 0; i < b.length; i++) {
        const v = b[i]!;
        if (v > INT32_MAX) {
          if (v >= INT64_MAX || at.sliceIndex) out[i] = 2147483647;
          else throw outOfRange(at, v, i);
        } else if (v < INT32_MIN) {
          if (v <= INT64_MIN || at.sliceIndex) out[i] = -2147483648;
          else throw outOfRange(at, v, i);
        } else out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'bool': return tf.tensor(Uint8Array.from(d as Uint8Array, (v) => (v ? 1 : 0)), shape, 'bool');
    case 'string': return tf.tensor(d as string[], shape, 'string');
    default:
      throw new ExecutionError(`${at.file}: value '${at.name}' has element type ${t.type}, which tf-parity cannot read`, { file: at.file, node: at.name });
  }
}

function outOfRange(at: Where, v: bigint, i: number): ExecutionError {
  return new ExecutionError(
    `${at.file}: value '${at.name}' holds ${v} at element ${i}, outside the int32 range tfjs computes integers in, ` +
      `and is used otherwise than as a Slice start or end (which ONNX clamps to the dimension); ` +
      `\`parity inspect ${at.file}\` lists such constants`,
    { file: at.file, node: at.name },
  );
}

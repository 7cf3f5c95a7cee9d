/** Element types as TensorFlow names them (lower case, TF's DataType enum without DT_). */
export type DType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'qint8' | 'quint8' | 'qint16' | 'quint16' | 'qint32'
  | 'bool' | 'string' | 'complex64' | 'complex128' | 'resource' | 'variant';

/** TensorFlow's DataType enum values (tensorflow/core/framework/types.proto). */
export const TF_DTYPE_ENUM: Record<number, DType> = {
  1: 'float32', 2: 'float64', 3: 'int32', 4: 'uint8', 5: 'int16', 6: 'int8', 7: 'string',
  8: 'complex64', 9: 'int64', 10: 'bool', 11: 'qint8', 12: 'quint8', 13: 'qint32', 14: 'bfloat16', 15: 'qint16', 16: 'quint16', 17: 'uint16', 18: 'complex128',
  19: 'float16', 20: 'resource', 21: 'variant', 22: 'uint32', 23: 'uint64',
};

export const DTYPE_TO_TF_ENUM: Record<DType, number> = Object.fromEntries(
  Object.entries(TF_DTYPE_ENUM).map(([k, v]) => [v, Number(k)]),
) as Record<DType, number>;

/** Bytes per element in TF's packed encoding (tensor_content), 0 for variable-size types. */
export function dtypeSize(d: DType): number {
  switch (d) {
    case 'float32': case 'int32': case 'uint32': case 'qint32': return 4;
    case 'float64': case 'int64': case 'uint64': case 'complex64': return 8;
    case 'complex128': return 16;
    case 'float16': case 'bfloat16': case 'int16': case 'uint16': case 'qint16': case 'quint16': return 2;
    case 'int8': case 'uint8': case 'bool': case 'qint8': case 'quint8': return 1;
    default: return 0;
  }
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
}

export function isIntDType(d: DType): boolean {
  return d.startsWith('int') || d.startsWith('uint');
}

/**
 * TF1's quantized integer types (quantize_graph, TF-Lite-era tools): integers whose meaning is a
 * float range carried beside them (QuantizeV2's min/max outputs). Held as int32 in tfjs.
 */
export function isQuantizedDType(d: DType): boolean {
  return d === 'qint8' || d === 'quint8' || d === 'qint16' || d === 'quint16' || d === 'qint32';
}

/** The plain integer dtype a quantized one is stored as (quint8 -> uint8). */
export function quantizedStorage(d: DType): DType {
  switch (d) {
    case 'qint8': return 'int8';
    case 'quint8': return 'uint8';
    case 'qint16': return 'int16';
    case 'quint16': return 'uint16';
    case 'qint32': return 'int32';
    default: return d;
  }
}

/** The tfjs dtype a TF dtype is computed in (tfjs has float32, int32, bool, string, complex64). */
export type TfjsDType = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

export function toTfjsDType(d: DType): TfjsDType {
  if (isFloatDType(d)) return 'float32';
  if (isIntDType(d) || isQuantizedDType(d)) return 'int32';
  if (d === 'bool') return 'bool';
  if (d === 'string') return 'string';
  if (d === 'complex64' || d === 'complex128') return 'complex64';
  return 'float32';
}

/**
 * Dtypes whose values tfjs cannot all hold in the type it computes them in (toTfjsDType):
 * float64 in float32 loses precision, int64/uint32/uint64 past the int32 range do not fit.
 */
export function isWideDType(d: DType): boolean {
  return d === 'float64' || d === 'int64' || d === 'uint32' || d === 'uint64';
}

/** Integer dtypes narrower than int32: TF's arithmetic on them wraps at their own width. */
export function isNarrowIntDType(d: DType): boolean {
  return d === 'int8' || d === 'int16' || d === 'uint8' || d === 'uint16';
}

/** The range of an integer dtype, as numbers (64-bit bounds are approximate, beyond 2^53). */
export function intRange(d: DType): { min: number; max: number } {
  switch (d) {
    case 'int8': return { min: -128, max: 127 };
    case 'int16': return { min: -32768, max: 32767 };
    case 'uint8': return { min: 0, max: 255 };
    case 'uint16': return { min: 0, max: 65535 };
    case 'uint32': return { min: 0, max: 4294967295 };
    case 'int64': return { min: -(2 ** 63), max: 2 ** 63 - 1 };
    case 'uint64': return { min: 0, max: 2 ** 64 - 1 };
    default: return { min: -2147483648, max: 2147483647 };
  }
}

/** An integer value wrapped to a narrow integer dtype's width, as TF's two's-complement arithmetic does. */
export function wrapToNarrowInt(v: number, d: DType): number {
  switch (d) {
    case 'int8': return (v << 24) >> 24;
    case 'int16': return (v << 16) >> 16;
    case 'uint8': return v & 0xff;
    case 'uint16': return v & 0xffff;
    default: return v;
  }
}

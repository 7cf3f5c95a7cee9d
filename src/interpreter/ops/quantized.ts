import { tf } from '../../backend/tf.js';
import { attrDType, attrInts, attrString } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import type { DType } from '../../core/dtype.js';
import { opFamily } from '../registry.js';
import { fail } from './helpers.js';

const { registerOps } = opFamily('quantized');

/**
 * TF1's eight-bit quantized ops (what `quantize_graph` and TF-Lite-era tools wrote): quint8 and
 * qint32 values with their float range carried as separate min/max scalars. Computed on the
 * host with TF's own arithmetic (tensorflow/core/kernels/quantization_utils.h and the op
 * kernels): float32 steps where TF computes in float, doubles where it computes in double,
 * std::round (half away from zero) and int64 fixed point where it uses them, so the integers
 * are TF's exactly.
 */

const f32 = Math.fround;

/** std::round: half away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

interface QType {
  lowest: number;
  highest: number;
  bits: number;
}

function qtype(d: DType, node: GraphNode): QType {
  switch (d) {
    case 'quint8': return { lowest: 0, highest: 255, bits: 8 };
    case 'qint8': return { lowest: -128, highest: 127, bits: 8 };
    case 'quint16': return { lowest: 0, highest: 65535, bits: 16 };
    case 'qint16': return { lowest: -32768, highest: 32767, bits: 16 };
    case 'qint32': return { lowest: -2147483648, highest: 2147483647, bits: 32 };
    default: return fail(node, `${d} is not a quantized type`);
  }
}

/** FloatToQuantizedUnclamped<T>: `input` (a float) on the range's integer grid, not clamped. */
function floatToQuantizedUnclamped(input: number, min: number, max: number, q: QType): number {
  if (min === max) return q.lowest;
  const steps = 2 ** q.bits;
  const range = f32(max - min) * (steps / (steps - 1));
  const scale = steps / range;
  return roundAway(input * scale) - roundAway(min * scale) + q.lowest;
}

function floatToQuantized(input: number, min: number, max: number, q: QType): number {
  return Math.min(q.highest, Math.max(q.lowest, floatToQuantizedUnclamped(input, min, max, q)));
}

/** QuantizedToFloat<T>: the float a quantized value stands for, in TF's doubles. */
function quantizedToFloat(input: number, min: number, max: number, q: QType): number {
  if (min === max) return min;
  const steps = 2 ** q.bits;
  const range = f32(max - min) * (steps / (steps - 1));
  const scale = range / steps;
  const s = f32(scale);
  const minRounded = f32(roundAway(f32(min / s)) * s);
  return f32(minRounded + (input - q.lowest) * scale);
}

/** Eight-bit Eigen dequantization (DEQUANTIZE_WITH_EIGEN with QuantizedToFloatStruct), in float32. */
function dequantizeEigen(values: ArrayLike<number>, min: number, max: number, q: QType): Float32Array {
  const scale = f32(f32(max - min) / (2 ** q.bits - 1));
  const minRounded = max === min ? min : f32(f32(roundAway(f32(min / scale))) * scale);
  const base = f32(minRounded - f32(q.lowest * scale));
  return Float32Array.from(values, (x) => f32(base + f32(x * scale)));
}

/** QUANTIZE_WITH_EIGEN with FloatToQuantizedStruct: float32 steps, then clamped. */
function quantizeEigen(values: ArrayLike<number>, min: number, max: number, q: QType): Int32Array {
  const scale = max === min ? 0 : f32((2 ** q.bits - 1) / (max - min));
  const minScaled = f32(roundAway(f32(min * scale)));
  const lo = Math.max(q.lowest, -2.147483648e9);
  const hi = Math.min(q.highest, f32(2.14748352e9));
  const shift = f32(minScaled - q.lowest);
  return Int32Array.from(values, (x) => Math.min(hi, Math.max(lo, f32(roundAway(f32(x * scale)) - shift))));
}

function scalar(t: tf.Tensor, node: GraphNode, what: string): number {
  const v = t.dataSync() as Float32Array;
  if (v.length < 1) fail(node, `${what} is empty`);
  return v[0]!;
}

const floats = (x: number) => tf.scalar(x, 'float32');

/** QuantizedConv2D (TF's ReferenceConvFunctor, which its im2col path equals): qint32 sums of (input - zero) x (filter - zero). */
function quantizedConv2D([x, w, minX, maxX, minW, maxW]: tf.Tensor[], node: GraphNode): tf.Tensor[] {
  const qi = qtype(attrDType(node, 'Tinput', 'quint8'), node);
  const qf = qtype(attrDType(node, 'Tfilter', 'quint8'), node);
  const qo = qtype(attrDType(node, 'out_type', 'qint32'), node);
  const strides = attrInts(node, 'strides');
  const padding = attrString(node, 'padding');
  if (strides.length !== 4 || strides[1] !== strides[2] || strides[0] !== 1 || strides[3] !== 1) fail(node, `strides [${strides}] are not supported by TF's QuantizedConv2D (equal row and column strides only)`);
  if (x!.rank !== 4 || w!.rank !== 4) fail(node, `input and filter must be 4-dimensional, got [${x!.shape}] and [${w!.shape}]`);
  const [batch, inH, inW, inD] = x!.shape as [number, number, number, number];
  const [fH, fW, fD, outD] = w!.shape as [number, number, number, number];
  if (fD !== inD) fail(node, `input and filter must have the same depth: ${inD} vs ${fD}`);
  const stride = strides[1]!;
  const outSize = (n: number, f: number) => (padding === 'VALID' ? Math.floor((n - f + stride) / stride) : Math.ceil(n / stride));
  if (padding !== 'VALID' && padding !== 'SAME') fail(node, `padding '${padding}' is not supported`);
  const outH = outSize(inH, fH);
  const outW = outSize(inW, fW);
  if (outH <= 0 || outW <= 0) fail(node, `the filter [${fH},${fW}] does not fit the input [${inH},${inW}]`);
  const [x0, x1, w0, w1] = [scalar(minX!, node, 'min_input'), scalar(maxX!, node, 'max_input'), scalar(minW!, node, 'min_filter'), scalar(maxW!, node, 'max_filter')];
  const offIn = floatToQuantizedUnclamped(0, x0, x1, qi);
  const offW = floatToQuantizedUnclamped(0, w0, w1, qf);
  // C++ integer division truncates toward zero.
  const left = Math.trunc(((outW - 1) * stride + fW - inW) / 2);
  const top = Math.trunc(((outH - 1) * stride + fH - inH) / 2);
  const xv = x!.dataSync() as Int32Array;
  const wv = w!.dataSync() as Int32Array;
  const out = new Int32Array(batch * outH * outW * outD);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let oc = 0; oc < outD; oc++) {
          let total = 0;
          for (let fy = 0; fy < fH; fy++) {
            const iy = oy * stride - top + fy;
            for (let fx = 0; fx < fW; fx++) {
              const ix = ox * stride - left + fx;
              const inside = ix >= 0 && ix < inW && iy >= 0 && iy < inH;
              for (let ic = 0; ic < inD; ic++) {
                const xi = inside ? xv[((b * inH + iy) * inW + ix) * inD + ic]! - offIn : 0;
                const wi = wv[((fy * fW + fx) * inD + ic) * outD + oc]! - offW;
                total = (total + Math.imul(xi, wi)) | 0;
              }
            }
          }
          out[((b * outH + oy) * outW + ox) * outD + oc] = Math.min(qo.highest, Math.max(qo.lowest, total));
        }
      }
    }
  }
  // QuantizationRangeForMultiplication: float32 levels of each input, their product on the output grid.
  const a = f32(f32(x1 - x0) / (qi.highest - qi.lowest));
  const c = f32(a * f32(f32(w1 - w0) / (qf.highest - qf.lowest)));
  return [tf.tensor(out, [batch, outH, outW, outD], 'int32'), floats(f32(c * qo.lowest)), floats(f32(c * f32(qo.highest)))];
}

/** RequantizationRange: the float range the qint32 values actually use, its minimum at most 0. */
function requantizationRange([x, min, max]: tf.Tensor[], node: GraphNode): tf.Tensor[] {
  const q = qtype(attrDType(node, 'Tinput', 'qint32'), node);
  const v = x!.dataSync() as Int32Array;
  let lo = q.highest;
  let hi = q.lowest;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < lo) lo = v[i]!;
    if (v[i]! > hi) hi = v[i]!;
  }
  const m0 = scalar(min!, node, 'input_min');
  const m1 = scalar(max!, node, 'input_max');
  return [floats(Math.min(0, quantizedToFloat(lo, m0, m1, q))), floats(quantizedToFloat(hi, m0, m1, q))];
}

/** Requantize qint32 -> quint8: TF's int64 fixed-point path (RequantizeManyInNewRangeUsingEigen<qint32, quint8>). */
function requantize([x, inMin, inMax, outMin, outMax]: tf.Tensor[], node: GraphNode): tf.Tensor[] {
  const from = attrDType(node, 'Tinput', 'qint32');
  const to = attrDType(node, 'out_type', 'quint8');
  if (from !== 'qint32' || to !== 'quint8') fail(node, `TF's Requantize kernel takes qint32 to quint8, not ${from} to ${to}`);
  const [i0, i1, o0, o1] = [scalar(inMin!, node, 'input_min'), scalar(inMax!, node, 'input_max'), scalar(outMin!, node, 'requested_output_min'), scalar(outMax!, node, 'requested_output_max')];
  if (!(o0 <= 0)) fail(node, `requested_output_min must be <= 0, but got ${o0}`);
  if (!(o1 >= 0)) fail(node, `requested_output_max must be >= 0, but got ${o1}`);
  const shift = 16;
  const inputRange = f32(i1 - i0);
  const outputRange = f32(o1 - o0);
  const recip = outputRange === 0 ? 0 : f32(255 / outputRange);
  const rezero = f32(f32(i0 + i1) / 2);
  const rangeScaleFp = outputRange === 0 ? 0n : BigInt(Math.trunc((255 * 2 ** shift * inputRange) / outputRange));
  const inputOffsetFp = BigInt(Math.trunc(f32(f32(rezero * recip) * 2 ** shift)));
  const outputOffsetFp = outputRange === 0 ? 0n : BigInt(Math.trunc((2 ** shift * (o0 * 255)) / outputRange));
  const add = inputOffsetFp - outputOffsetFp + (1n << BigInt(shift - 1));
  const v = x!.dataSync() as Int32Array;
  const out = Int32Array.from(v, (q) => {
    // BigInt's >> floors, as an arithmetic shift of an int64 does.
    const r = Number((((BigInt(q) * rangeScaleFp) >> 32n) + add) >> BigInt(shift));
    return Math.min(255, Math.max(0, r));
  });
  return [tf.tensor(out, x!.shape, 'int32'), floats(o0), floats(o1)];
}

function mode(node: GraphNode): string {
  return attrString(node, 'mode', 'MIN_COMBINED');
}

/** Dequantize: MIN_FIRST as TF's Eigen path, MIN_COMBINED as its formula, in float32. */
function dequantize([x, min, max]: tf.Tensor[], node: GraphNode): tf.Tensor {
  const q = qtype(attrDType(node, 'T'), node);
  const m0 = scalar(min!, node, 'min_range');
  const m1 = scalar(max!, node, 'max_range');
  const v = x!.dataSync() as Int32Array;
  const m = mode(node);
  if (m === 'MIN_FIRST') return tf.tensor(dequantizeEigen(v, m0, m1, q), x!.shape, 'float32');
  if (m === 'MIN_COMBINED') {
    const half = q.lowest < 0 ? f32((q.highest - q.lowest + 1) / 2) : 0;
    const scale = f32(f32(m1 - m0) / (q.highest - q.lowest));
    return tf.tensor(Float32Array.from(v, (y) => f32(f32(f32(y + half) * scale) + m0)), x!.shape, 'float32');
  }
  return fail(node, `mode '${m}' is not supported (MIN_FIRST and MIN_COMBINED are)`);
}

/** QuantizeV2 in MIN_FIRST mode (what quantize_graph writes): the range widened to hold 0, then TF's Eigen quantization. */
function quantizeV2([x, min, max]: tf.Tensor[], node: GraphNode): tf.Tensor[] {
  const q = qtype(attrDType(node, 'T'), node);
  const m = mode(node);
  if (m !== 'MIN_FIRST') fail(node, `mode '${m}' is not supported (MIN_FIRST is)`);
  const inMin = scalar(min!, node, 'min_range');
  const inMax = scalar(max!, node, 'max_range');
  if (inMax < inMin) fail(node, 'input_max_range must be larger than input_min_range');
  const ensure = f32(node.attrs.ensure_minimum_range?.type === 'float' ? node.attrs.ensure_minimum_range.value : 0.01);
  const lo = Math.min(0, inMin);
  const eps = f32(Math.max(1, Math.max(Math.abs(inMin), Math.abs(inMax))) * ensure);
  const hi = Math.max(0, Math.max(inMax, f32(lo + eps)));
  return [tf.tensor(quantizeEigen(x!.dataSync() as Float32Array, lo, hi, q), x!.shape, 'int32'), floats(lo), floats(hi)];
}

/** QuantizedRelu / QuantizedRelu6: clamped at the quantized 0 (and 6); the range passes through. */
function quantizedRelu(six: boolean) {
  return ([x, min, max]: tf.Tensor[], node: GraphNode): tf.Tensor[] => {
    const q = qtype(attrDType(node, 'Tinput', 'quint8'), node);
    const m0 = scalar(min!, node, 'min_features');
    const m1 = scalar(max!, node, 'max_features');
    const zero = floatToQuantized(0, m0, m1, q);
    const top = six ? floatToQuantized(6, m0, m1, q) : q.highest;
    const v = x!.dataSync() as Int32Array;
    return [tf.tensor(Int32Array.from(v, (y) => Math.min(top, Math.max(zero, y))), x!.shape, 'int32'), floats(m0), floats(m1)];
  };
}

registerOps({
  QuantizedConv2D: quantizedConv2D,
  RequantizationRange: requantizationRange,
  Requantize: requantize,
  Dequantize: dequantize,
  QuantizeV2: quantizeV2,
  QuantizedRelu: quantizedRelu(false),
  QuantizedRelu6: quantizedRelu(true),
});

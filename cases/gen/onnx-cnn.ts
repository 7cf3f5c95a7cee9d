import { onnxRoot } from '../../src/proto/index.js';
import { BN_EPSILON, applyFault, cnnWeights, type CnnFault, type CnnWeights } from './cnn.js';

/**
 * The example CNN converted by hand to ONNX (opset 13), as a converter would: NCHW throughout,
 * kernels re-laid out (HWIO -> OIHW, depthwise as a grouped Conv), a Transpose back to NHWC
 * before the flatten so the Dense weights keep their order. Node and tensor names are generic
 * (`t1`, `t2`, …): nothing is shared with the TensorFlow names, alignment has to be numeric.
 */

type Msg = Record<string, unknown>;

function tensor(name: string, dims: number[], data: Float32Array | number[], type: 'float' | 'int64' = 'float'): Msg {
  if (type === 'int64') {
    const b = new BigInt64Array((data as number[]).map((v) => BigInt(v)));
    return { name, dims, data_type: 7, raw_data: new Uint8Array(b.buffer) };
  }
  const f = Float32Array.from(data);
  return { name, dims, data_type: 1, raw_data: new Uint8Array(f.buffer) };
}

/** HWIO [kh,kw,ci,co] -> OIHW [co,ci,kh,kw]. */
function hwioToOihw(k: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = k[((y * kw + x) * ci + i) * co + o]!;
  return out;
}

const ints = (name: string, v: number[]): Msg => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Msg => ({ name, type: 2, i: v });
const flt = (name: string, v: number): Msg => ({ name, type: 1, f: v });

export function cnnOnnx(weights: CnnWeights = cnnWeights(), fault: CnnFault = 'none'): Uint8Array {
  const w = applyFault(weights, fault);
  const node = (op: string, inputs: string[], outputs: string[], attribute: Msg[] = []): Msg => ({ op_type: op, input: inputs, output: outputs, name: outputs[0], attribute });
  const dwPads = fault === 'dw1-padding' ? [0, 0, 2, 2] : [1, 1, 1, 1];
  const nodes = [
    node('Conv', ['input', 'w1', 'b1'], ['t1'], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [1, 1])]),
    node('Relu', ['t1'], ['t2']),
    node('BatchNormalization', ['t2', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['t3'], [flt('epsilon', fault === 'bn1-epsilon' ? 1e-1 : BN_EPSILON)]),
    node('MaxPool', ['t3'], ['t4'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
    node('Conv', ['t4', 'wd', 'bd'], ['t5'], [ints('kernel_shape', [3, 3]), ints('pads', dwPads), int('group', 4)]),
    fault === 'dw1-activation' ? node('Identity', ['t5'], ['t6']) : node('Clip', ['t5', 'zero', 'six'], ['t6']),
    node('Transpose', ['t6'], ['t7'], [ints('perm', [0, 2, 3, 1])]),
    node('Reshape', ['t7', 'flat_shape'], ['t8']),
    node('Gemm', ['t8', 'wfc', 'bfc'], ['t9']),
    node('Softmax', ['t9'], ['output'], [int('axis', 1)]),
  ];
  const model = {
    ir_version: 8,
    producer_name: 'tf-parity cases/gen',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'cnn',
      node: nodes,
      initializer: [
        tensor('w1', [4, 3, 3, 3], hwioToOihw(w.conv1Kernel, 3, 3, 3, 4)),
        tensor('b1', [4], w.conv1Bias),
        tensor('bn_scale', [4], w.bnGamma),
        tensor('bn_bias', [4], w.bnBeta),
        tensor('bn_mean', [4], w.bnMean),
        tensor('bn_var', [4], w.bnVar),
        // depthwise [3,3,4,1] -> grouped conv weight [4,1,3,3]
        tensor('wd', [4, 1, 3, 3], hwioToOihw(w.dwKernel, 3, 3, 1, 4)),
        tensor('bd', [4], w.dwBias),
        tensor('zero', [], [0]),
        tensor('six', [], [6]),
        tensor('flat_shape', [2], [1, 64], 'int64'),
        tensor('wfc', [64, 10], w.fcKernel),
        tensor('bfc', [10], w.fcBias),
      ],
      input: [{ name: 'input', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }, { dim_value: 3 }, { dim_value: 8 }, { dim_value: 8 }] } } } }],
      output: [{ name: 'output', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }, { dim_value: 10 }] } } } }],
    },
  };
  const T = onnxRoot().lookupType('onnx.ModelProto');
  return T.encode(T.fromObject(model)).finish();
}

import type { Layout } from '../../core/runner.js';

/**
 * Which 4-D/5-D values of an ONNX graph hold channels-first (NCHW) or channels-last (NHWC) data,
 * so alignment can transpose them to the reference's layout. The rule:
 *
 *  1. The data input and the output of an op that works channels-first by the ONNX spec (Conv,
 *     pools, BatchNormalization, ...) are channels-first.
 *  2. Transpose with perm (0,2,3,1) / (0,2,3,4,1) turns channels-first into channels-last, and
 *     (0,3,1,2) / (0,4,1,2,3) the reverse; knowing either side of it gives the other.
 *  3. Ops that keep the layout (elementwise maths, activations, Pad, Resize, Concat, Q/DQ, ...)
 *     pass it on, forwards from their inputs and backwards from their output.
 *  4. Values still unknown (after a Reshape, say) take the model's layout: channels-last when
 *     every 4-D/5-D graph input turned out channels-last (a model converted by tf2onnx and kept
 *     NHWC at its edges), channels-first otherwise, as ONNX's operators are.
 *
 * Only a hint: alignment still picks the transform under which the values agree.
 */

export interface LayoutNode {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Transpose's perm, when the node is a Transpose that has one. */
  perm?: number[];
}

type Side = 'first' | 'last';

const CHANNELS_FIRST = new Set([
  'Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'DeformConv', 'MaxPool', 'AveragePool', 'LpPool',
  'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'QLinearAveragePool', 'QLinearGlobalAveragePool',
  'BatchNormalization', 'InstanceNormalization', 'LRN', 'MaxUnpool', 'DepthToSpace', 'SpaceToDepth', 'FusedConv',
]);

const KEEPS_LAYOUT = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Gelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softplus',
  'Softsign', 'Mish', 'ThresholdedRelu', 'Clip', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil',
  'Round', 'Sign', 'Erf', 'Sin', 'Cos', 'Not', 'IsNaN', 'IsInf', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min',
  'Mean', 'Sum', 'Where', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Mod',
  'Identity', 'Dropout', 'Cast', 'CastLike', 'Pad', 'Resize', 'Upsample', 'Concat', 'QuantizeLinear',
  'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearAdd', 'QLinearMul', 'QLinearLeakyRelu', 'QLinearSigmoid',
]);

function permKind(perm: number[] | undefined): 'toLast' | 'toFirst' | undefined {
  const p = perm?.join(',');
  if (p === '0,2,3,1' || p === '0,2,3,4,1') return 'toLast';
  if (p === '0,3,1,2' || p === '0,4,1,2,3') return 'toFirst';
  return undefined;
}

export function inferLayouts(nodes: LayoutNode[], graphInputs: string[], constants: Set<string>): (name: string, rank: number) => Layout | undefined {
  const side = new Map<string, Side>();
  const set = (v: string, s: Side): boolean => {
    if (!v || constants.has(v) || side.has(v)) return false;
    side.set(v, s);
    return true;
  };
  const standard = (n: LayoutNode): boolean => n.domain === '' || n.domain === 'ai.onnx' || n.domain === 'com.microsoft';
  for (const n of nodes) {
    if (!standard(n) || !CHANNELS_FIRST.has(n.op)) continue;
    set(n.inputs[0] ?? '', 'first');
    for (const o of n.outputs) set(o, 'first');
  }
  // Layouts spread a step per pass; a pass that changes nothing ends it.
  for (let changed = true, pass = 0; changed && pass < nodes.length + 1; pass++) {
    changed = false;
    for (const n of nodes) {
      if (!standard(n)) continue;
      if (n.op === 'Transpose') {
        const k = permKind(n.perm);
        if (!k) continue;
        const inS = side.get(n.inputs[0] ?? '');
        const outS = side.get(n.outputs[0] ?? '');
        const [from, to]: [Side, Side] = k === 'toLast' ? ['first', 'last'] : ['last', 'first'];
        if (inS === from) changed = set(n.outputs[0] ?? '', to) || changed;
        if (outS === to) changed = set(n.inputs[0] ?? '', from) || changed;
        continue;
      }
      if (!KEEPS_LAYOUT.has(n.op)) continue;
      const known = [...n.inputs, ...n.outputs].map((v) => side.get(v)).find((s) => s !== undefined);
      if (!known) continue;
      for (const v of [...n.inputs, ...n.outputs]) changed = set(v, known) || changed;
    }
  }
  const inputSides = graphInputs.map((i) => side.get(i)).filter((s) => s !== undefined);
  const fallback: Side = inputSides.length > 0 && inputSides.every((s) => s === 'last') ? 'last' : 'first';
  return (name, rank) => {
    if (rank !== 4 && rank !== 5) return undefined;
    const s = side.get(name) ?? fallback;
    if (rank === 4) return s === 'first' ? 'NCHW' : 'NHWC';
    return s === 'first' ? 'NCDHW' : 'NDHWC';
  };
}

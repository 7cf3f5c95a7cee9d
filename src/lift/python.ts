import type { CallArg, LiftedModel } from './model.js';
import { numpyObject } from './keras-config.js';

/**
 * model.py: readable Python that builds the lifted model with keras.layers / keras.ops under the
 * same layer names and loads model.weights.h5 (written beside it), so a person can read it,
 * edit it and go on by hand. Only the config keys the lift set are spelt out; the rest are
 * Keras' defaults.
 */

/** keras.ops class (keras.src.ops.numpy) -> the public function that creates it. */
export const OP_FUNCTIONS: Record<string, string> = {
  Add: 'add', Subtract: 'subtract', Multiply: 'multiply', Divide: 'divide', Maximum: 'maximum', Minimum: 'minimum',
  Transpose: 'transpose', Mean: 'mean', Max: 'max', Min: 'min', Sum: 'sum', Prod: 'prod', Pad: 'pad', Resize: 'image.resize', Take: 'take',
  Cast: 'cast', Reshape: 'reshape', ExpandDims: 'expand_dims', Squeeze: 'squeeze', Stack: 'stack',
};

const KEYWORDS = new Set('False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield keras layers ops np os max min sum abs all any len list dict map input type id range round filter'.split(' '));

export function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : String(v)) : v > 0 ? 'float("inf")' : Number.isNaN(v) ? 'float("nan")' : '-float("inf")';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`).join(', ')}}`;
  return JSON.stringify(String(v));
}

function identifier(name: string, used: Set<string>): string {
  let id = name.replace(/\W/g, '_');
  if (/^\d/.test(id) || KEYWORDS.has(id)) id = `t_${id}`;
  let out = id;
  for (let i = 1; used.has(out); i++) out = `${id}_${i}`;
  used.add(out);
  return out;
}

export function pythonSource(m: LiftedModel, original: string): string {
  const used = new Set<string>();
  const vars = new Map<string, string>();
  const lines: string[] = [];
  const arg = (a: CallArg): string => {
    switch (a.kind) {
      case 'tensor': return vars.get(a.tensor)!;
      case 'tensors': return `[${a.tensors.map((t) => vars.get(t)!).join(', ')}]`;
      case 'array': {
        const o = numpyObject(a.value) as { config: { value: unknown; dtype: string } };
        return `np.array(${pythonLiteral(o.config.value)}, dtype=${JSON.stringify(o.config.dtype)})`;
      }
      case 'value': return pythonLiteral(a.value);
    }
  };
  for (const i of m.inputs) {
    const v = identifier(i.name, used);
    vars.set(i.tensor, v);
    lines.push(`    ${v} = keras.Input(batch_shape=${pythonLiteral(i.shape)}, dtype=${JSON.stringify(i.dtype)}, name=${JSON.stringify(i.name)})`);
  }
  for (const l of m.layers) {
    const v = identifier(l.name, used);
    const args = l.args.map(arg).join(', ');
    if (l.kind === 'layer') {
      const kw = [...Object.entries(l.config).map(([k, x]) => `${k}=${pythonLiteral(x)}`), `name=${JSON.stringify(l.name)}`].join(', ');
      lines.push(`    ${v} = layers.${l.className}(${kw})(${args})`);
    } else {
      const fn = OP_FUNCTIONS[l.className];
      if (!fn) throw new Error(`lift: no keras.ops function known for ${l.className}`);
      const kw = Object.entries(l.config).map(([k, x]) => `${k}=${pythonLiteral(x)}`);
      lines.push(`    ${v} = ops.${fn}(${[args, ...kw].filter(Boolean).join(', ')})  # ${l.name}`);
    }
    vars.set(l.output, v);
  }
  const ins = m.inputs.map((i) => vars.get(i.tensor)!);
  const outs = m.outputs.map((o) => vars.get(o.tensor)!);
  const inArg = ins.length === 1 ? ins[0] : `[${ins.join(', ')}]`;
  const outArg = outs.length === 1 ? outs[0] : `[${outs.join(', ')}]`;
  return [
    `"""${m.name}: a Keras 3 model lifted by tf-parity from ${original.replace(/\\/g, '/').replace(/"""/g, '')}.`,
    '',
    'build_model() builds the architecture with stock keras.layers and keras.ops; load_model() also',
    'loads the weights from model.weights.h5 beside this file. model.keras holds the same model.',
    '"""',
    'import os',
    '',
    'import numpy as np',
    'import keras',
    'from keras import layers, ops',
    '',
    '',
    'def build_model():',
    ...lines,
    `    return keras.Model(inputs=${inArg}, outputs=${outArg}, name=${JSON.stringify(m.name)})`,
    '',
    '',
    'def load_model():',
    '    model = build_model()',
    '    model.load_weights(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.weights.h5"))',
    '    return model',
    '',
    '',
    'if __name__ == "__main__":',
    '    load_model().summary()',
    '',
  ].join('\n');
}

/**
 * Keras names from TensorFlow scopes: `model_1/conv2d_5/BiasAdd` -> `conv2d_5` (the scope the op
 * sits in; a node without a scope keeps its own name), made valid (Keras refuses `/` in names) and
 * unique.
 */
const INNER_SCOPE = /^(batchnorm(_\d+)?|clip_by_value|depthwise|separable_conv2d|conv2d_transpose|transpose|Tensordot|ArithmeticOptimizer)$/;

const base = (s: string) => s.replace(/_\d+$/, '');

/**
 * Scopes that are also Keras' default layer names (`separable_conv2d`): an op scope only around
 * the ops TF opens it for (`.../separable_conv2d/depthwise`); around anything else (the layer's
 * `BiasAdd`, `Relu`) it is the layer's own scope.
 */
const OP_SCOPE_OPS: Record<string, RegExp> = { separable_conv2d: /^depthwise(_\d+)?$/ };

/** The innermost scope that names a layer: TF's own op scopes (CamelCase) and the scopes TF opens inside a layer are skipped. */
function layerScope(scopes: string[], op: string): string | undefined {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i]!;
    if (/^[A-Z]/.test(s)) continue;
    if (INNER_SCOPE.test(s) && i > 0) {
      // `separable_conv2d_1/separable_conv2d/`: the layer, then the op scope it opened.
      if (base(scopes[i - 1]!) === base(s)) return scopes[i - 1];
      const only = OP_SCOPE_OPS[base(s)];
      if (only && i === scopes.length - 1 && !only.test(op)) return s;
      continue;
    }
    return s;
  }
  return undefined;
}

export function scopeName(node: string): string {
  const parts = node.split('/').filter(Boolean);
  const raw = layerScope(parts.slice(0, -1), (parts[parts.length - 1] ?? '').replace(/:\d+$/, '')) ?? (parts.length >= 2 ? parts[parts.length - 2]! : parts[0] ?? 'layer');
  const clean = raw.replace(/:\d+$/, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return clean === '' ? 'layer' : clean;
}

/** Hands out unique names: the first `conv2d_5` as asked, then `conv2d_5_1`, `conv2d_5_2`, ... */
export class NameSet {
  private readonly used = new Set<string>();

  has(name: string): boolean {
    return this.used.has(name);
  }

  take(want: string): string {
    let name = want;
    for (let i = 1; this.used.has(name); i++) name = `${want}_${i}`;
    this.used.add(name);
    return name;
  }
}

/**
 * Keras names from TensorFlow scopes: `model_1/conv2d_5/BiasAdd` -> `conv2d_5` (the scope the op
 * sits in; a node without a scope keeps its own name), made valid (Keras refuses `/` in names) and
 * unique.
 */
const INNER_SCOPE = /^(batchnorm|clip_by_value|depthwise|separable_conv2d|conv2d_transpose|transpose|Tensordot|ArithmeticOptimizer)(_\d+)?$/;

export function scopeName(node: string): string {
  const parts = node.split('/').filter(Boolean);
  const scopes = parts.slice(0, -1);
  // Scopes TF itself opens inside a layer (FusedBatchNormV3/, batchnorm/, clip_by_value/, ArithmeticOptimizer/) are not the layer's name.
  const layerScope = [...scopes].reverse().find((s) => !/^[A-Z]/.test(s) && !INNER_SCOPE.test(s));
  const raw = layerScope ?? (parts.length >= 2 ? parts[parts.length - 2]! : parts[0] ?? 'layer');
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

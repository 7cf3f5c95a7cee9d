/**
 * Keras names from TensorFlow scopes: `model_1/conv2d_5/BiasAdd` -> `conv2d_5` (the scope the op
 * sits in; a node without a scope keeps its own name), made valid (Keras refuses `/` in names) and
 * unique.
 */
export function scopeName(node: string): string {
  const parts = node.split('/').filter(Boolean);
  const raw = parts.length >= 2 ? parts[parts.length - 2]! : parts[0] ?? 'layer';
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

import h5wasm from 'h5wasm';
import { toSnakeCase } from '../runners/keras/weights.js';
import type { LiftedModel } from './model.js';

/**
 * model.weights.h5 as Keras 3 writes it (saving_lib._save_container_state): one group per layer of
 * `model.layers` (InputLayers included; keras.ops operations are not layers) at
 * `layers/<snake_case(class)>[_<n>]/vars`, the group carrying the layer's name as attribute
 * `name`, variables as datasets `0`, `1`, ... in the layer's own order; and the model's own `vars`
 * group. Written with h5wasm in its in-memory file system.
 */

export interface WeightEntry {
  /** `layers/conv2d_1/vars/0` */
  path: string;
  shape: number[];
  data: Float32Array;
}

/** Each layer's group and its variables, in `model.layers` order. */
export function weightLayout(m: LiftedModel): { group: string; layer: string; entries: WeightEntry[] }[] {
  const counts = new Map<string, number>();
  const group = (cls: string) => {
    const base = toSnakeCase(cls);
    const n = counts.get(base);
    counts.set(base, n === undefined ? 0 : n + 1);
    return `layers/${n === undefined ? base : `${base}_${n + 1}`}`;
  };
  const out: { group: string; layer: string; entries: WeightEntry[] }[] = m.inputs.map((i) => ({ group: group('InputLayer'), layer: i.name, entries: [] }));
  for (const l of m.layers) {
    if (l.kind !== 'layer') continue;
    const g = group(l.className);
    out.push({ group: g, layer: l.name, entries: l.weights.map((w, i) => ({ path: `${g}/vars/${i}`, shape: w.value.shape, data: Float32Array.from(w.value.data as ArrayLike<number>) })) });
  }
  return out;
}

interface H5Group {
  create_group(n: string): H5Group;
  get(n: string): unknown;
  keys(): string[];
  create_dataset(a: { name: string; data: Float32Array; shape: number[]; dtype: string }): unknown;
  create_attribute(name: string, data: string): void;
}

function ensureGroup(root: H5Group, path: string): H5Group {
  let g = root;
  for (const part of path.split('/').filter(Boolean)) g = g.keys().includes(part) ? (g.get(part) as H5Group) : g.create_group(part);
  return g;
}

let seq = 0;

export async function kerasWeightsH5(m: LiftedModel): Promise<Uint8Array> {
  const mod = (await h5wasm.ready) as unknown as { FS: { readFile(p: string): Uint8Array; unlink(p: string): void } };
  const p = `/lift-${process.pid}-${++seq}.weights.h5`;
  const f = new h5wasm.File(p, 'w') as unknown as H5Group & { close(): void };
  try {
    for (const l of weightLayout(m)) {
      const vars = ensureGroup(f, `${l.group}/vars`);
      vars.create_attribute('name', l.layer);
      for (const e of l.entries) vars.create_dataset({ name: e.path.split('/').pop()!, data: e.data, shape: e.shape, dtype: '<f' });
    }
    ensureGroup(f, 'vars').create_attribute('name', m.name);
  } finally {
    f.close();
  }
  const bytes = new Uint8Array(mod.FS.readFile(p));
  mod.FS.unlink(p);
  return bytes;
}

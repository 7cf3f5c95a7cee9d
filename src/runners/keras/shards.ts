import h5wasm, { Dataset, Group, type File as H5File } from 'h5wasm';
import { FormatError } from '../../core/errors.js';
import { h5Keys, h5Module, readDataset, withH5 } from './weights.js';

/**
 * Keras 3 sharded weights (`model.save(..., max_shard_size=...)`): the archive holds
 * `model.weights.json` ({metadata, weight_map: {"/layers/dense/vars": "model_00000.weights.h5"}})
 * and shards `model_00000.weights.h5`, `model_00001.weights.h5`, ... with the same group paths
 * as an unsharded `model.weights.h5`; a layer's variables may continue in the next shard
 * (saving_lib.ShardedH5IOStore starts a new shard mid-layer and makes the group again there).
 * The shards are merged, in shard order, into one in-memory HDF5 file that the usual loader
 * reads; values are copied as float32 (tf-parity computes in float32; float16 is exact in it).
 */

type J = Record<string, unknown>;

interface H5Writable {
  create_group(n: string): H5Writable;
  get(n: string): unknown;
  keys(): string[];
  create_dataset(a: { name: string; data: Float32Array; shape: number[]; dtype: string }): unknown;
  close(): void;
}

/** The shard names the archive's `model.weights.json` lists (or all `*_NNNNN.weights.h5` entries), in shard order. */
export function shardNames(entries: Map<string, Uint8Array>, file: string): string[] | null {
  const index = entries.get('model.weights.json');
  if (!index) return null;
  let map: unknown;
  try {
    map = (JSON.parse(new TextDecoder().decode(index)) as J).weight_map;
  } catch (e) {
    throw new FormatError(`${file}: model.weights.json is not valid JSON (${e instanceof Error ? e.message : String(e)})`, { file });
  }
  const listed = map && typeof map === 'object' ? Object.values(map as J).filter((v): v is string => typeof v === 'string') : [];
  const names = [...new Set([...listed, ...[...entries.keys()].filter((k) => /_\d{5}\.weights\.h5$/.test(k))])].sort();
  const missing = names.filter((n) => !entries.has(n));
  if (missing.length) throw new FormatError(`${file}: model.weights.json names weight shard(s) missing from the archive: ${missing.join(', ')}`, { file });
  if (!names.length) throw new FormatError(`${file}: model.weights.json lists no weight shard`, { file });
  return names;
}

let seq = 0;

/** The shards merged into the bytes of one HDF5 file. */
export async function mergeShards(entries: Map<string, Uint8Array>, names: string[], file: string): Promise<Uint8Array> {
  const m = await h5Module();
  const p = `/parity-shards-${process.pid}-${++seq}.h5`;
  const out = new h5wasm.File(p, 'w') as unknown as H5Writable;
  try {
    const ensure = (path: string): H5Writable => {
      let g = out;
      for (const part of path.split('/').filter(Boolean)) g = g.keys().includes(part) ? (g.get(part) as H5Writable) : g.create_group(part);
      return g;
    };
    for (const name of names) {
      const label = `${file}[${name}]`;
      await withH5(entries.get(name)!, label, (f: H5File) => {
        const walk = (g: Group, path: string): void => {
          for (const k of h5Keys(g)) {
            const child = g.get(k);
            const cp = path ? `${path}/${k}` : k;
            if (child instanceof Group) {
              ensure(cp);
              walk(child, cp);
            } else if (child instanceof Dataset) {
              const parent = ensure(path);
              if (parent.keys().includes(k)) throw new FormatError(`${file}: weight '${cp}' is in more than one shard (again in ${name})`, { file, node: cp });
              const w = readDataset(child, label, cp, 'float32');
              parent.create_dataset({ name: k, data: w.data instanceof Float32Array ? w.data : Float32Array.from(w.data), shape: w.shape, dtype: '<f' });
            }
          }
        };
        walk(f, '');
      });
    }
  } finally {
    out.close();
  }
  const bytes = new Uint8Array(m.FS.readFile(p));
  m.FS.unlink(p);
  return bytes;
}

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { FormatError, InputError } from '../core/errors.js';
import type { HostTensor } from '../core/tensor.js';
import { readZip, writeZip } from '../formats/zip.js';
import { readNpy, writeNpy } from './npy.js';

/**
 * .npz archives (numpy's np.savez): one `<key>.npy` per array. Keys are TF tensor names such as
 * `conv1/Relu:1`; numpy reads them back as `np.load(f)['conv1/Relu:1']` (zip entry names may
 * hold '/' and ':').
 */
export function readNpz(bytes: Uint8Array, file: string): Map<string, HostTensor> {
  const entries = readZip(bytes, file);
  const out = new Map<string, HostTensor>();
  for (const [name, data] of entries) {
    if (!name.endsWith('.npy')) continue;
    out.set(name.slice(0, -4), readNpy(data, `${file}[${name}]`));
  }
  if (out.size === 0 && entries.size > 0) throw new FormatError(`${file}: the archive holds no .npy arrays`, { file });
  return out;
}

export function writeNpz(arrays: Map<string, HostTensor> | [string, HostTensor][], opts: { compress?: boolean } = {}): Uint8Array {
  const entries: [string, Uint8Array][] = [];
  for (const [k, v] of arrays) {
    if (!k) throw new InputError('an array in an .npz needs a non-empty name');
    entries.push([`${k}.npy`, writeNpy(v)]);
  }
  return writeZip(entries, opts.compress ?? false);
}

export function readNpzFile(path: string): Map<string, HostTensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`${path} cannot be read: ${(e as Error).message}`, { file: path });
  }
  return readNpz(bytes, path);
}

/** Writes atomically: a temp file then a rename, so a reader never sees half an archive. */
export function writeNpzFile(path: string, arrays: Map<string, HostTensor> | [string, HostTensor][], opts: { compress?: boolean } = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, writeNpz(arrays, opts));
  renameSync(tmp, path);
}

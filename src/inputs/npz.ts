import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/write.js';
import { FormatError, InputError, LimitError, errorMessage } from '../core/errors.js';
import type { HostTensor } from '../core/tensor.js';
import { checkEntryName, readZip, writeZip } from '../formats/zip.js';
import { readNpy, writeNpy } from './npy.js';

/**
 * .npz archives (numpy's np.savez / np.savez_compressed): a zip with one `<key>.npy` per array.
 *
 * Keys are TF tensor names such as `conv1/Relu:1`, written as they are, with no escaping:
 * numpy's NpzFile strips '.npy' from zip entry names and looks keys up verbatim, so
 * `np.load(f)['conv1/Relu:1']` works (checked in test/inputs). The only names refused are those
 * a zip reader must distrust (absolute, '..' segments, NUL, a trailing '/'), because we would
 * refuse such an archive on reading.
 */

export type NamedArrays = Map<string, HostTensor> | [string, HostTensor][];

export function readNpz(bytes: Uint8Array, file: string): Map<string, HostTensor> {
  const entries = readZip(bytes, file);
  const out = new Map<string, HostTensor>();
  for (const [name, data] of entries) {
    // Other members (numpy never writes any) are not arrays; numpy would hand them out as bytes.
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4);
    out.set(key, readNpy(data, file, { array: key }));
  }
  if (out.size === 0 && entries.size > 0) {
    throw new FormatError(`${file}: the archive holds no .npy arrays (entries: ${[...entries.keys()].slice(0, 5).join(', ')})`, { file });
  }
  return out;
}

/** Entries of an .npz with the arrays in the given order (stored, or deflated with `compress`). */
export function writeNpz(arrays: NamedArrays, opts: { compress?: boolean } = {}): Uint8Array {
  const entries: [string, Uint8Array][] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const [k, v] of arrays) {
    if (!k) throw new InputError('an array in an .npz needs a non-empty name');
    if (seen.has(k)) throw new InputError(`two arrays are named '${k}'; .npz keys must be unique`, { node: k });
    seen.add(k);
    if (k.endsWith('/')) throw new InputError(`array name '${k}' ends with '/', which zip readers take for a folder`, { node: k });
    try {
      checkEntryName(`${k}.npy`, 'npz');
    } catch (e) {
      throw new InputError(`array name '${k}' cannot be an .npz key: ${errorMessage(e).replace(/^npz: /, '')}`, { node: k });
    }
    const npy = writeNpy(v, k);
    total += npy.length;
    // fflate writes no zip64 records, so offsets and sizes must fit in 32 bits.
    if (total > 0xfffff000) throw new LimitError(`the .npz would exceed 4 GiB at array '${k}' (zip64 is not written); save fewer arrays per file`, { node: k });
    entries.push([`${k}.npy`, npy]);
  }
  return writeZip(entries, opts.compress ?? false);
}

export function readNpzFile(path: string): Map<string, HostTensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`${path} cannot be read: ${errorMessage(e)}`, { file: path, cause: e });
  }
  return readNpz(bytes, path);
}

/** Writes atomically: a temp file in the same folder, then a rename, so readers never see half an archive. */
export function writeNpzFile(path: string, arrays: NamedArrays, opts: { compress?: boolean } = {}): void {
  writeFileAtomic(path, writeNpz(arrays, opts));
}

import type { DType } from '../core/dtype.js';
import { FormatError } from '../core/errors.js';
import type { HostData, HostTensor } from '../core/tensor.js';
import { checkTensorBudget, numElements } from '../core/tensor.js';
import { halfToFloat } from '../formats/tensor-proto.js';
import { floatToHalf } from '../formats/tensor-proto.js';

/**
 * NumPy .npy (format versions 1.0, 2.0, 3.0): all numeric dtypes, both byte orders on read,
 * C order only. The header is a Python dict literal, parsed by a small parser (never eval'd).
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<string, { dtype: DType; size: number }> = {
  f2: { dtype: 'float16', size: 2 }, f4: { dtype: 'float32', size: 4 }, f8: { dtype: 'float64', size: 8 },
  i1: { dtype: 'int8', size: 1 }, i2: { dtype: 'int16', size: 2 }, i4: { dtype: 'int32', size: 4 }, i8: { dtype: 'int64', size: 8 },
  u1: { dtype: 'uint8', size: 1 }, u2: { dtype: 'uint16', size: 2 }, u4: { dtype: 'uint32', size: 4 }, u8: { dtype: 'uint64', size: 8 },
  b1: { dtype: 'bool', size: 1 }, c8: { dtype: 'complex64', size: 8 }, c16: { dtype: 'complex128', size: 16 },
};

interface Header {
  descr: string;
  fortran_order: boolean;
  shape: number[];
}

/** Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeader(s: string, file: string): Header {
  const fail = (why: string): never => {
    throw new FormatError(`${file}: bad .npy header (${why}): ${s.slice(0, 120)}`, { file });
  };
  const body = s.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) fail('not a dict');
  const out: Record<string, unknown> = {};
  const re = /\s*'([a-z_]+)'\s*:\s*('(?:[^'\\]|\\.)*'|True|False|\((?:\s*\d+\s*,?)*\s*\))\s*,?/gy;
  let i = 1;
  const inner = body.slice(0, -1);
  re.lastIndex = 1;
  while (i < inner.length) {
    if (/^\s*$/.test(inner.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(inner);
    if (!m) fail(`cannot parse at offset ${i}`);
    const [, key, val] = m!;
    if (val!.startsWith("'")) out[key!] = val!.slice(1, -1);
    else if (val === 'True' || val === 'False') out[key!] = val === 'True';
    else {
      const nums = val!.slice(1, -1).split(',').map((x) => x.trim()).filter(Boolean);
      out[key!] = nums.map((x) => {
        const n = Number(x);
        if (!Number.isSafeInteger(n) || n < 0) fail(`dimension ${x}`);
        return n;
      });
    }
    i = re.lastIndex;
  }
  if (typeof out.descr !== 'string') fail("missing 'descr'");
  if (typeof out.fortran_order !== 'boolean') fail("missing 'fortran_order'");
  if (!Array.isArray(out.shape)) fail("missing 'shape'");
  return out as unknown as Header;
}

export function readNpy(bytes: Uint8Array, file: string): HostTensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new FormatError(`${file}: not a .npy file (bad magic)`, { file });
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let off: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    off = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(`${file}: truncated .npy header`, { file });
    hlen = dv.getUint32(8, true);
    off = 12;
  } else throw new FormatError(`${file}: unsupported .npy format version ${major}`, { file });
  if (off + hlen > bytes.length) throw new FormatError(`${file}: truncated .npy header (${hlen} bytes declared, ${bytes.length - off} present)`, { file });
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(off, off + hlen)), file);
  if (header.fortran_order) throw new FormatError(`${file}: Fortran-order arrays are not supported; save with np.ascontiguousarray(a)`, { file });
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(header.descr);
  if (!m) throw new FormatError(`${file}: unsupported dtype '${header.descr}' (object, structured and string arrays are not read)`, { file });
  const order = m[1]!;
  const key = `${m[2]}${m[3]}`;
  const info = DESCR[key];
  if (!info) throw new FormatError(`${file}: unsupported dtype '${header.descr}'`, { file });
  const shape = header.shape;
  checkTensorBudget(shape, info.size, { file });
  const n = numElements(shape);
  const start = off + hlen;
  if (bytes.length - start < n * info.size) {
    throw new FormatError(`${file}: array of shape [${shape}] ${header.descr} needs ${n * info.size} bytes, file has ${bytes.length - start}`, { file });
  }
  const little = order !== '>';
  const d = new DataView(bytes.buffer, bytes.byteOffset + start, n * info.size);
  let data: HostData;
  switch (info.dtype) {
    case 'float16': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = halfToFloat(d.getUint16(2 * i, little)); data = a; break; }
    case 'float32': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = d.getFloat32(4 * i, little); data = a; break; }
    case 'float64': { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = d.getFloat64(8 * i, little); data = a; break; }
    case 'int8': { const a = new Int8Array(n); for (let i = 0; i < n; i++) a[i] = d.getInt8(i); data = a; break; }
    case 'int16': { const a = new Int16Array(n); for (let i = 0; i < n; i++) a[i] = d.getInt16(2 * i, little); data = a; break; }
    case 'int32': { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = d.getInt32(4 * i, little); data = a; break; }
    case 'int64': { const a = new BigInt64Array(n); for (let i = 0; i < n; i++) a[i] = d.getBigInt64(8 * i, little); data = a; break; }
    case 'uint8': { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = d.getUint8(i); data = a; break; }
    case 'uint16': { const a = new Uint16Array(n); for (let i = 0; i < n; i++) a[i] = d.getUint16(2 * i, little); data = a; break; }
    case 'uint32': { const a = new Uint32Array(n); for (let i = 0; i < n; i++) a[i] = d.getUint32(4 * i, little); data = a; break; }
    case 'uint64': { const a = new BigUint64Array(n); for (let i = 0; i < n; i++) a[i] = d.getBigUint64(8 * i, little); data = a; break; }
    case 'bool': { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = d.getUint8(i) ? 1 : 0; data = a; break; }
    case 'complex64': { const a = new Float32Array(2 * n); for (let i = 0; i < 2 * n; i++) a[i] = d.getFloat32(4 * i, little); data = a; break; }
    case 'complex128': { const a = new Float64Array(2 * n); for (let i = 0; i < 2 * n; i++) a[i] = d.getFloat64(8 * i, little); data = a; break; }
    default: throw new FormatError(`${file}: unsupported dtype '${header.descr}'`, { file });
  }
  return { dtype: info.dtype, shape, data };
}

const NPY_DESCR: Partial<Record<DType, string>> = {
  float16: '<f2', float32: '<f4', float64: '<f8', int8: '|i1', int16: '<i2', int32: '<i4', int64: '<i8',
  uint8: '|u1', uint16: '<u2', uint32: '<u4', uint64: '<u8', bool: '|b1', complex64: '<c8', complex128: '<c16',
  bfloat16: '<f4',
};

/** HostTensor -> .npy bytes (version 1.0, little endian, C order). bfloat16 is written as float32. */
export function writeNpy(h: HostTensor): Uint8Array {
  const descr = NPY_DESCR[h.dtype];
  if (!descr) throw new FormatError(`cannot write a ${h.dtype} tensor as .npy`);
  const shape = h.shape.length === 1 ? `(${h.shape[0]},)` : `(${h.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  let payload: Uint8Array;
  if (h.dtype === 'float16') {
    const f = h.data as Float32Array;
    const u = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) u[i] = floatToHalf(f[i]!);
    payload = new Uint8Array(u.buffer);
  } else if (h.dtype === 'bool') {
    payload = Uint8Array.from(h.data as Uint8Array, (b) => (b ? 1 : 0));
  } else {
    const d = h.data as Exclude<HostData, Uint8Array[]>;
    payload = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const out = new Uint8Array(10 + header.length + payload.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(payload, 10 + header.length);
  return out;
}

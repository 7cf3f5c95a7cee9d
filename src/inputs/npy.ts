import { readFileSync } from 'node:fs';
import type { DType } from '../core/dtype.js';
import { FormatError, InputError, errorMessage } from '../core/errors.js';
import type { HostData, HostTensor } from '../core/tensor.js';
import { checkTensorBudget, numElements, shapeToString } from '../core/tensor.js';
import { halfBits, halfValue } from './float.js';

/**
 * NumPy .npy, format versions 1.0, 2.0 and 3.0 (numpy/lib/format.py).
 * Read: every numeric dtype in either byte order, bool, complex, fixed-width strings
 * ('<U' unicode and '|S' bytes, both read as dtype 'string' holding UTF-8/raw bytes), 0-d arrays.
 * Refused with a FormatError: object arrays (they need pickle), structured/record dtypes,
 * datetimes, long double, and Fortran order (unless the layout equals C order, as for 1-D).
 * The header is a Python dict literal; it is parsed by the small literal parser below, never eval'd.
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Larger than any header numpy writes for a plain array; a guard against absurd lengths. */
const MAX_HEADER_BYTES = 1 << 20;
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// A parser for the subset of Python literals numpy writes: dict, tuple, list, str, int, bool, None.

type Py =
  | { t: 'str'; v: string }
  | { t: 'int'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'none' }
  | { t: 'tuple' | 'list'; v: Py[] }
  | { t: 'dict'; v: Map<string, Py> };

class LiteralParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly s: string, private readonly fail: (why: string) => never) {}

  parseAll(): Py {
    const v = this.value();
    this.ws();
    if (this.pos !== this.s.length) this.fail(`unexpected '${this.s.slice(this.pos, this.pos + 10)}' after the dict`);
    return v;
  }

  private ws(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }

  private value(): Py {
    this.ws();
    const c = this.s[this.pos];
    if (c === undefined) return this.fail('unexpected end of header');
    if (c === '{' || c === '(' || c === '[') {
      if (++this.depth > 16) this.fail('nested too deeply');
      const v = c === '{' ? this.dict() : this.seq(c === '(' ? ')' : ']');
      this.depth--;
      return v;
    }
    if (c === "'" || c === '"') return { t: 'str', v: this.str(c) };
    const word = /^(True|False|None|[+-]?\d+[lL]?)(?![\w.])/.exec(this.s.slice(this.pos, this.pos + 40));
    if (!word) return this.fail(`unexpected '${this.s.slice(this.pos, this.pos + 10)}' at offset ${this.pos}`);
    this.pos += word[1]!.length;
    const w = word[1]!;
    if (w === 'True' || w === 'False') return { t: 'bool', v: w === 'True' };
    if (w === 'None') return { t: 'none' };
    return { t: 'int', v: Number(w.replace(/[lL]$/, '')) };
  }

  private str(q: string): string {
    let out = '';
    this.pos++;
    for (;;) {
      const c = this.s[this.pos++];
      if (c === undefined) return this.fail('unterminated string');
      if (c === q) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.pos++];
      if (e === undefined) return this.fail('unterminated string');
      if (e === 'x' || e === 'u') {
        const len = e === 'x' ? 2 : 4;
        const hex = this.s.slice(this.pos, this.pos + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) this.fail(`bad escape \\${e}${hex}`);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += len;
      } else out += ({ n: '\n', t: '\t', r: '\r', '0': '\0' } as Record<string, string>)[e] ?? e;
    }
  }

  private seq(close: string): Py {
    const items: Py[] = [];
    let sawComma = false;
    this.pos++;
    for (;;) {
      this.ws();
      if (this.s[this.pos] === close) {
        this.pos++;
        // `(3)` is an int in Python, `(3,)` a tuple; numpy always writes the comma.
        if (close === ')' && items.length === 1 && !sawComma) return items[0]!;
        return { t: close === ')' ? 'tuple' : 'list', v: items };
      }
      items.push(this.value());
      this.ws();
      if (this.s[this.pos] === ',') {
        this.pos++;
        sawComma = true;
      } else if (this.s[this.pos] !== close) this.fail(`expected ',' or '${close}' at offset ${this.pos}`);
    }
  }

  private dict(): Py {
    const m = new Map<string, Py>();
    this.pos++;
    for (;;) {
      this.ws();
      if (this.s[this.pos] === '}') {
        this.pos++;
        return { t: 'dict', v: m };
      }
      const k = this.value();
      if (k.t !== 'str') this.fail('dict keys must be strings');
      this.ws();
      if (this.s[this.pos++] !== ':') this.fail(`expected ':' after key '${(k as { v: string }).v}'`);
      const key = (k as { v: string }).v;
      if (m.has(key)) this.fail(`key '${key}' appears twice`);
      m.set(key, this.value());
      this.ws();
      if (this.s[this.pos] === ',') this.pos++;
      else if (this.s[this.pos] !== '}') this.fail(`expected ',' or '}' at offset ${this.pos}`);
    }
  }
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

function parseHeader(text: string, where: string, file: string): Header {
  const fail = (why: string): never => {
    throw new FormatError(`${where}: bad .npy header (${why}): ${JSON.stringify(text.slice(0, 120))}`, { file });
  };
  const v = new LiteralParser(text, fail).parseAll();
  if (v.t !== 'dict') return fail('not a dict');
  const descr = v.v.get('descr');
  const fo = v.v.get('fortran_order');
  const shape = v.v.get('shape');
  if (!descr) return fail("no 'descr'");
  if (descr.t === 'list') {
    throw new FormatError(`${where}: structured (record) arrays are not supported; save each field as its own array`, { file });
  }
  if (descr.t !== 'str') return fail("'descr' is not a string");
  if (!fo || fo.t !== 'bool') return fail("'fortran_order' is missing or not True/False");
  if (!shape || shape.t !== 'tuple') return fail("'shape' is missing or not a tuple");
  const dims = shape.v.map((d) => {
    if (d.t !== 'int' || !Number.isSafeInteger(d.v) || d.v < 0) return fail(`'shape' holds ${d.t === 'int' ? d.v : d.t}, not a non-negative integer`);
    return d.v;
  });
  return { descr: descr.v, fortranOrder: fo.v, shape: dims };
}

// ---------------------------------------------------------------------------------------------

type Kind = { dtype: DType; size: number; component: number } | { dtype: 'string'; size: number; component: 1 | 4 };

const NUMERIC: Record<string, { dtype: DType; size: number; component: number }> = {
  f2: { dtype: 'float16', size: 2, component: 2 }, f4: { dtype: 'float32', size: 4, component: 4 }, f8: { dtype: 'float64', size: 8, component: 8 },
  i1: { dtype: 'int8', size: 1, component: 1 }, i2: { dtype: 'int16', size: 2, component: 2 }, i4: { dtype: 'int32', size: 4, component: 4 }, i8: { dtype: 'int64', size: 8, component: 8 },
  u1: { dtype: 'uint8', size: 1, component: 1 }, u2: { dtype: 'uint16', size: 2, component: 2 }, u4: { dtype: 'uint32', size: 4, component: 4 }, u8: { dtype: 'uint64', size: 8, component: 8 },
  b1: { dtype: 'bool', size: 1, component: 1 }, c8: { dtype: 'complex64', size: 8, component: 4 }, c16: { dtype: 'complex128', size: 16, component: 8 },
};

function parseDescr(descr: string, where: string, file: string): { kind: Kind; little: boolean } {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  const refuse = (why: string): never => {
    throw new FormatError(`${where}: dtype '${descr}' is not supported (${why})`, { file });
  };
  if (!m) return refuse('structured or unknown dtype');
  const [, order, letter, digits] = m as unknown as [string, string, string, string];
  // '|' (not applicable) and '=' (native) only occur for 1-byte types in files numpy writes.
  const little = order === '>' ? false : order === '<' ? true : HOST_LE;
  if (letter === 'O') return refuse('object arrays need pickle, which is never loaded; save a numeric or string array');
  if (letter === 'U' || letter === 'S' || letter === 'a') {
    const n = Number(digits || '0');
    if (!Number.isSafeInteger(n) || n > 1 << 20) return refuse('string width out of range');
    return letter === 'U' ? { kind: { dtype: 'string', size: 4 * n, component: 4 }, little } : { kind: { dtype: 'string', size: n, component: 1 }, little };
  }
  if (letter === 'M' || letter === 'm') return refuse('datetime/timedelta; convert to int64 first');
  if (letter === 'V') return refuse('raw void/record data (for example ml_dtypes bfloat16); convert to float32 first');
  const k = NUMERIC[letter + digits];
  if (!k) return refuse(letter === 'f' || letter === 'c' ? 'extended precision; convert to float64/complex128 first' : 'unknown type code');
  return { kind: k, little };
}

/** Reverses the bytes of each `width`-byte group in place. */
function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i + width <= b.length; i += width) {
    for (let lo = i, hi = i + width - 1; lo < hi; lo++, hi--) {
      const t = b[lo]!;
      b[lo] = b[hi]!;
      b[hi] = t;
    }
  }
}

export interface NpyReadOptions {
  /** Name of the array inside an archive, for messages (`file: array 'x' ...`). */
  array?: string;
}

/** Decodes one .npy file. `file` (and `opts.array`) are used in error messages. */
export function readNpy(bytes: Uint8Array, file: string, opts: NpyReadOptions = {}): HostTensor {
  const where = opts.array !== undefined ? `${file}: array '${opts.array}'` : file;
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new FormatError(`${where}: not a .npy file (no \\x93NUMPY magic)`, { file });
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let off: number;
  if (major === 1 && minor === 0) {
    hlen = dv.getUint16(8, true);
    off = 10;
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (bytes.length < 12) throw new FormatError(`${where}: truncated .npy header`, { file });
    hlen = dv.getUint32(8, true);
    off = 12;
  } else throw new FormatError(`${where}: unsupported .npy format version ${major}.${minor} (1.0, 2.0 and 3.0 are read)`, { file });
  if (hlen > MAX_HEADER_BYTES) throw new FormatError(`${where}: .npy header of ${hlen} bytes is implausibly large`, { file });
  if (off + hlen > bytes.length) throw new FormatError(`${where}: truncated .npy header (${hlen} bytes declared, ${bytes.length - off} present)`, { file });
  let text: string;
  try {
    // 1.0/2.0 headers are latin1; 3.0 exists to allow utf-8 (field names).
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(off, off + hlen));
  } catch {
    throw new FormatError(`${where}: .npy header is not valid ${major === 3 ? 'UTF-8' : 'latin1'} text`, { file });
  }
  const header = parseHeader(text, where, file);
  const { kind, little } = parseDescr(header.descr, where, file);
  const shape = header.shape;
  if (header.fortranOrder && shape.filter((d) => d !== 1).length > 1) {
    throw new FormatError(
      `${where}: array of shape ${shapeToString(shape)} is stored in Fortran (column-major) order, which is not supported; save it with np.save(path, np.ascontiguousarray(a))`,
      { file },
    );
  }
  checkTensorBudget(shape, kind.size, { file, node: opts.array });
  const n = numElements(shape);
  const start = off + hlen;
  const need = n * kind.size;
  if (bytes.length - start < need) {
    throw new FormatError(
      `${where}: array of shape ${shapeToString(shape)} and dtype '${header.descr}' needs ${need} data bytes, the file has ${bytes.length - start} (truncated?)`,
      { file },
    );
  }
  // A copy: aligned for typed-array views, and free to byte-swap.
  const raw = bytes.slice(start, start + need);
  if (little !== HOST_LE && kind.component > 1) swapBytes(raw, kind.component);
  const buf = raw.buffer;
  let data: HostData;
  switch (kind.dtype) {
    case 'float16': {
      const u = new Uint16Array(buf);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = halfValue(u[i]!);
      data = f;
      break;
    }
    case 'float32': case 'complex64': data = new Float32Array(buf); break;
    case 'float64': case 'complex128': data = new Float64Array(buf); break;
    case 'int8': data = new Int8Array(buf); break;
    case 'int16': data = new Int16Array(buf); break;
    case 'int32': data = new Int32Array(buf); break;
    case 'int64': data = new BigInt64Array(buf); break;
    case 'uint8': data = raw; break;
    case 'uint16': data = new Uint16Array(buf); break;
    case 'uint32': data = new Uint32Array(buf); break;
    case 'uint64': data = new BigUint64Array(buf); break;
    case 'bool': {
      for (let i = 0; i < n; i++) raw[i] = raw[i] ? 1 : 0;
      data = raw;
      break;
    }
    case 'string': data = decodeStrings(raw, n, kind.size, kind.component, where, file); break;
    default: throw new FormatError(`${where}: dtype '${header.descr}' is not supported`, { file });
  }
  return { dtype: kind.dtype, shape, data };
}

function decodeStrings(raw: Uint8Array, n: number, size: number, component: number, where: string, file: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (component === 1) {
    // numpy drops trailing NULs of 'S' items on access; so do we.
    for (let i = 0; i < n; i++) {
      let end = (i + 1) * size;
      while (end > i * size && raw[end - 1] === 0) end--;
      out.push(raw.slice(i * size, end));
    }
    return out;
  }
  const cps = new Uint32Array(raw.buffer);
  const width = size / 4;
  const enc = new TextEncoder();
  for (let i = 0; i < n; i++) {
    let end = (i + 1) * width;
    while (end > i * width && cps[end - 1] === 0) end--;
    let s = '';
    for (let j = i * width; j < end; j++) {
      const cp = cps[j]!;
      if (cp > 0x10ffff) throw new FormatError(`${where}: element ${i} holds ${cp}, not a Unicode code point`, { file });
      s += String.fromCodePoint(cp);
    }
    out.push(enc.encode(s));
  }
  return out;
}

/** Reads a .npy file from disk; a missing or unreadable file is an InputError naming it. */
export function readNpyFile(path: string): HostTensor {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`${path} cannot be read: ${errorMessage(e)}`, { file: path, cause: e });
  }
  return readNpy(bytes, path);
}

// ---------------------------------------------------------------------------------------------

const WRITE_DESCR: Partial<Record<DType, { code: string; component: number }>> = {
  float16: { code: 'f2', component: 2 }, float32: { code: 'f4', component: 4 }, float64: { code: 'f8', component: 8 },
  int8: { code: 'i1', component: 1 }, int16: { code: 'i2', component: 2 }, int32: { code: 'i4', component: 4 }, int64: { code: 'i8', component: 8 },
  uint8: { code: 'u1', component: 1 }, uint16: { code: 'u2', component: 2 }, uint32: { code: 'u4', component: 4 }, uint64: { code: 'u8', component: 8 },
  bool: { code: 'b1', component: 1 }, complex64: { code: 'c8', component: 4 }, complex128: { code: 'c16', component: 8 },
  // numpy has no bfloat16; its values are exact in float32 (read back as float32).
  bfloat16: { code: 'f4', component: 4 },
  // numpy has no quantized types: their integers, as the plain type TF stores them in.
  qint8: { code: 'i1', component: 1 }, quint8: { code: 'u1', component: 1 }, qint16: { code: 'i2', component: 2 },
  quint16: { code: 'u2', component: 2 }, qint32: { code: 'i4', component: 4 },
};

/**
 * HostTensor -> .npy bytes: version 1.0 (2.0 only if the header would not fit), C order,
 * host byte order (little endian on every platform Node runs on). Strings are written as
 * fixed-width bytes ('|S<max length>'), which keeps TF's raw bytes; numpy drops trailing NULs.
 * `name` is used in error messages.
 */
export function writeNpy(h: HostTensor, name?: string): Uint8Array {
  const what = name !== undefined ? `array '${name}'` : 'array';
  if (!h.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InputError(`${what}: shape ${JSON.stringify(h.shape)} is not a list of non-negative integers`, { node: name });
  const n = numElements(h.shape);
  let descr: string;
  let payload: Uint8Array;
  if (h.dtype === 'string') {
    const items = h.data as Uint8Array[];
    if (!Array.isArray(items) || items.length !== n) throw new InputError(`${what}: shape ${shapeToString(h.shape)} needs ${n} strings, found ${Array.isArray(items) ? items.length : 'non-string data'}`, { node: name });
    const width = Math.max(1, ...items.map((s) => s.length));
    checkTensorBudget(h.shape, width, { node: name });
    descr = `|S${width}`;
    payload = new Uint8Array(n * width);
    items.forEach((s, i) => payload.set(s, i * width));
  } else {
    const w = WRITE_DESCR[h.dtype];
    if (!w) throw new InputError(`${what}: a ${h.dtype} tensor cannot be written as .npy`, { node: name });
    const d = h.data as Exclude<HostData, Uint8Array[]>;
    const perElement = h.dtype === 'complex64' || h.dtype === 'complex128' ? 2 : 1;
    if (Array.isArray(d) || d.length !== n * perElement) {
      throw new InputError(`${what}: shape ${shapeToString(h.shape)} (${h.dtype}) needs ${n * perElement} values, found ${Array.isArray(d) ? 'strings' : d.length}`, { node: name });
    }
    descr = `${w.component === 1 ? '|' : HOST_LE ? '<' : '>'}${w.code}`;
    if (h.dtype === 'float16') {
      const u = new Uint16Array(n);
      for (let i = 0; i < n; i++) u[i] = halfBits((d as Float32Array)[i]!);
      payload = new Uint8Array(u.buffer);
    } else if (h.dtype === 'bool') {
      payload = Uint8Array.from(d as Uint8Array, (b) => (b ? 1 : 0));
    } else if (h.dtype === 'bfloat16') {
      const f = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
      payload = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    } else {
      payload = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }
  }
  const shapeText = h.shape.length === 1 ? `(${h.shape[0]},)` : `(${h.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads magic + length + header to a multiple of 64 so the data is aligned.
  let version = 1;
  let pre = 10;
  let total = pre + dict.length + 1;
  if (total + 64 > 0xffff + pre) {
    version = 2;
    pre = 12;
    total = pre + dict.length + 1;
  }
  const header = dict + ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(pre + header.length + payload.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(payload, pre + header.length);
  return out;
}

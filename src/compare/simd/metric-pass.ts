import { WASM_BASE64, WASM_SHARED_BASE64 } from './metrics-wasm.js';

/** The parts of the WebAssembly JS API used here (its types come with the DOM lib, which this project does not load). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  value: unknown;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  Memory: new (d: { initial: number }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/**
 * The metric accumulation pass (metrics.wat), run either on a memory of its own (host
 * arrays are copied in) or directly on another module's memory, such as the tfjs wasm
 * backend's heap, where tensors already are (no copy at all).
 */

interface PassExports {
  passA(r: number, c: number, pairs: number, atol: number, rtol: number): void;
  passB(r: number, c: number, pairs: number, atol: number, rtol: number): void;
  copy(dst: number, src: number, bytes: number): void;
  transpose(dst: number, src: number, batches: number, rows: number, cols: number): void;
  [name: string]: WasmGlobal | ((...a: number[]) => void);
}

/** What pass A leaves behind (sums over finite pairs, extremes, allclose count). */
export interface PassA {
  sr: number;
  sc: number;
  sabs: number;
  ssq: number;
  dot: number;
  nr: number;
  nc: number;
  rmin: number;
  rmax: number;
  cmin: number;
  cmax: number;
  maxabs: number;
  maxrel: number;
  natol: number;
  /** How many elements are within the tolerance when all are; -1 otherwise (pass B counts them). */
  close: number;
}

/** Pass B: how many elements are within the tolerance, the rtol that would pass, and the first element with the largest excess. */
export interface PassB {
  close: number;
  nrtol: number;
  wex: number;
  widx: number;
}

const modules = new Map<boolean, object | null>();

/** The compiled metric pass for a plain or a shared memory (null: no WebAssembly SIMD in this runtime). */
function passModule(shared: boolean): object | null {
  if (!modules.has(shared)) {
    try {
      if (!WA) throw new Error('no WebAssembly');
      modules.set(shared, new WA.Module(Buffer.from(shared ? WASM_SHARED_BASE64 : WASM_BASE64, 'base64')));
    } catch {
      modules.set(shared, null);
    }
  }
  return modules.get(shared) ?? null;
}

const instances = new WeakMap<WasmMemory, PassExports>();

function instanceFor(memory: WasmMemory): PassExports | null {
  let inst = instances.get(memory);
  if (!inst) {
    const m = passModule(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    if (!m) return null;
    try {
      inst = new WA!.Instance(m, { env: { memory } }).exports as unknown as PassExports;
    } catch {
      return null;
    }
    instances.set(memory, inst);
  }
  return inst;
}

const B_KEYS = ['close', 'nrtol', 'wex', 'widx'] as const;
const A_KEYS = ['sr', 'sc', 'sabs', 'ssq', 'dot', 'nr', 'nc', 'rmin', 'rmax', 'cmin', 'cmax', 'maxabs', 'maxrel', 'natol', 'close'] as const;

function read<K extends string>(e: PassExports, keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = (e[k] as WasmGlobal).value as number;
  return out;
}

/**
 * Runs pass A (and pass B when `withB`) over `pairs` element pairs of float32 data at byte
 * offsets `r` and `c` of `memory`. Returns null when the metric pass cannot run here.
 */
export function runMetricPass(memory: WasmMemory, r: number, c: number, pairs: number, atol: number, rtol: number, withB: boolean): { a: PassA; b?: PassB } | null {
  const e = instanceFor(memory);
  if (!e) return null;
  e.passA(r, c, pairs, atol, rtol);
  const a = read(e, A_KEYS);
  if (!withB) return { a };
  e.passB(r, c, pairs, atol, rtol);
  return { a, b: read(e, B_KEYS) };
}

/** Pass B alone (pass A already showed elements outside the tolerance). */
export function runMetricPassB(memory: WasmMemory, r: number, c: number, pairs: number, atol: number, rtol: number): PassB | null {
  const e = instanceFor(memory);
  if (!e) return null;
  e.passB(r, c, pairs, atol, rtol);
  return read(e, B_KEYS);
}

/**
 * Copies `bytes` bytes from offset `src` to offset `dst` of `memory` (wasm memory.copy: for a
 * shared memory, faster than TypedArray.prototype.set; docs/DESIGN.md, "Measured"). False when the metric pass cannot
 * run here: the caller copies with set().
 */
export function copyInMemory(memory: WasmMemory, dst: number, src: number, bytes: number): boolean {
  const e = instanceFor(memory);
  if (!e) return false;
  e.copy(dst, src, bytes);
  return true;
}

/**
 * A permutation that moves a block of axes past another, as a batch of matrix transposes:
 * [0, s, …, r-1, 1, …, s-1] over `shape` (rank r) reads `batches` = shape[0] matrices of
 * `rows` = shape[1] · … · shape[s-1] by `cols` = shape[s] · … · shape[r-1] values, each
 * transposed. Every permutation alignment tries is one ([0,2,3,1]: NCHW read as NHWC, rows C
 * and cols H·W; [0,3,1,2] the other way; [0,2,1]). Null for any other.
 */
export function batchedTranspose(shape: readonly number[], perm: readonly number[]): { batches: number; rows: number; cols: number } | null {
  const r = shape.length;
  if (perm.length !== r || r < 3 || perm[0] !== 0) return null;
  const s = perm[1]!;
  if (s < 2) return null;
  for (let k = 1; k < r; k++) if (perm[k] !== (k <= r - s ? s + k - 1 : k - (r - s))) return null;
  const prod = (a: number, b: number) => shape.slice(a, b).reduce((x, y) => x * y, 1);
  return { batches: shape[0]!, rows: prod(1, s), cols: prod(s, r) };
}

/**
 * Transposes `batches` matrices of `rows` x `cols` float32 values at byte offset `src` of
 * `memory` into `dst` (see batchedTranspose). False when the metric pass cannot run here.
 */
export function transposeInMemory(memory: WasmMemory, dst: number, src: number, batches: number, rows: number, cols: number): boolean {
  const e = instanceFor(memory);
  if (!e) return false;
  e.transpose(dst, src, batches, rows, cols);
  return true;
}

/** The same in JavaScript, between any two arrays. */
export function transposeArrays(dst: Float32Array, src: Float32Array, batches: number, rows: number, cols: number): void {
  const m = rows * cols;
  for (let b = 0; b < batches; b++) {
    const o = b * m;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[o + j * rows + i] = src[o + i * cols + j]!;
  }
}

/** A growable memory of the metric pass's own, for arrays that live in JavaScript. */
let own: WasmMemory | undefined;

/** The metric pass's own memory with room for `bytes`, or null when it cannot grow that far. */
export function ownMemory(bytes: number): WasmMemory | null {
  const pages = Math.ceil(bytes / 65536);
  try {
    if (!WA) return null;
    if (!own) own = new WA.Memory({ initial: Math.max(1, pages) });
    else if (own.buffer.byteLength < bytes) own.grow(pages - own.buffer.byteLength / 65536);
    return own;
  } catch {
    return null;
  }
}

/** Lets the metric pass's own memory go (it cannot shrink), e.g. after a large comparison. */
export function releaseOwnMemory(): void {
  own = undefined;
}

import seedrandom from 'seedrandom';
import { WASM_BASE64 } from './arc4-wasm.js';

/**
 * The doubles of seedrandom(key).double(), bit for bit, from arc4.wat. seedrandom's own key
 * schedule seeds it (its state after construction), and the stream itself runs in
 * WebAssembly, several times faster than seedrandom's loop and without waiting for the JIT
 * (a CLI run generates its inputs once, cold). Falls back to seedrandom itself where
 * WebAssembly is missing.
 */

interface Arc4Exports {
  memory: { buffer: ArrayBuffer };
  setState(i: number, j: number): void;
  getI(): number;
  getJ(): number;
  doubles(out: number, count: number): void;
}

interface WasmCtor {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

const OUT = 1024;
/** Doubles made per call (32 KiB): short calls let V8 move to its optimised code early in a long stream. */
const CHUNK = 4096;

let inst: Arc4Exports | null | undefined;

function instance(): Arc4Exports | null {
  if (inst === undefined) {
    try {
      const WA = (globalThis as unknown as { WebAssembly?: WasmCtor }).WebAssembly;
      if (!WA) throw new Error('no WebAssembly');
      inst = new WA.Instance(new WA.Module(Buffer.from(WASM_BASE64, 'base64')), {}).exports as unknown as Arc4Exports;
    } catch {
      inst = null;
    }
  }
  return inst;
}

/** The doubles seedrandom(key).double() would give, in order: `take` many at once, or `next` one. */
export interface DoubleStream {
  take(count: number): Float64Array;
  next(): number;
}

/** ARC4's state after seedrandom's key schedule for `key` (what the stream starts from). */
export interface Arc4State {
  S: Uint8Array;
  i: number;
  j: number;
}

export function arc4State(key: string): Arc4State {
  const st = (seedrandom(key, { state: true }) as unknown as { state(): { i: number; j: number; S: number[] } }).state();
  return { S: Uint8Array.from(st.S), i: st.i, j: st.j };
}

export function doubleStream(key: string): DoubleStream {
  const e = instance();
  if (!e) {
    const rng = seedrandom(key);
    return { take: (count) => Float64Array.from({ length: count }, () => rng.double()), next: () => rng.double() };
  }
  const st = arc4State(key);
  let S = st.S;
  let i = st.i;
  let j = st.j;
  /** Runs the stream for `count` doubles into `out` from `at`; one instance serves every stream, so the state goes in and out. */
  const run = (out: Float64Array, at: number, count: number): void => {
    new Uint8Array(e.memory.buffer, 0, 256).set(S);
    e.setState(i, j);
    for (let done = 0; done < count; ) {
      const k = Math.min(CHUNK, count - done);
      e.doubles(OUT, k);
      out.set(new Float64Array(e.memory.buffer, OUT, k), at + done);
      done += k;
    }
    S = new Uint8Array(e.memory.buffer, 0, 256).slice();
    i = e.getI();
    j = e.getJ();
  };
  // Single draws come from a small buffer, which take() uses up first so the order holds.
  let buf = new Float64Array(0);
  let pos = 0;
  return {
    take(count) {
      const out = new Float64Array(count);
      const have = Math.min(count, buf.length - pos);
      out.set(buf.subarray(pos, pos + have));
      pos += have;
      if (count > have) run(out, have, count - have);
      return out;
    },
    next() {
      if (pos === buf.length) {
        buf = new Float64Array(64);
        run(buf, 0, 64);
        pos = 0;
      }
      return buf[pos++]!;
    },
  };
}

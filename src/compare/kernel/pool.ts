import { Worker } from 'node:worker_threads';
import type { PassA, PassB, WasmMemory } from './kernel.js';
import { WASM_SHARED_BASE64 } from './metrics-wasm.js';

/**
 * The metric kernel on a second thread. The main thread is busy running both models (tfjs runs
 * on one thread), so the metrics of each pair are computed meanwhile by a worker: the main
 * thread copies the two tensors into a ring in a shared wasm memory (a memcpy, much cheaper
 * than the metrics pass), posts a job, and goes on; the worker runs the same kernel on that
 * memory and posts the sums back. Jobs run in order, so the ring frees in order.
 *
 * Everything here is an optimisation: when workers, shared memory or wasm SIMD are missing,
 * or the worker fails, available() is false or a job is rejected, and callers compute on the
 * main thread with the same kernel (the same numbers: same code, same order of sums).
 */

// The worker is a script in a string (eval), so that it runs the same from src/ under vitest
// and from dist/; it only instantiates the kernel on the shared memory and runs jobs. It uses
// a dynamic import, which works whether the worker inherits a CommonJS or an ES module
// setting (e.g. a parent started with --input-type=module).
const WORKER_SOURCE = `
import('node:worker_threads').then(({ parentPort, workerData }) => {
  const e = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports;
  Atomics.store(workerData.started, 0, 1);
  const A = ${JSON.stringify(['sr', 'sc', 'sabs', 'ssq', 'dot', 'nr', 'nc', 'rmin', 'rmax', 'cmin', 'cmax', 'maxabs', 'maxrel', 'natol', 'close'])};
  parentPort.on('message', (j) => {
    e.passA(j.r, j.c, j.pairs, j.atol, j.rtol);
    const a = {};
    for (const k of A) a[k] = e[k].value;
    let b = null;
    if (Number.isFinite(a.sr) && Number.isFinite(a.sc) && a.close < j.pairs * 2) {
      e.passB(j.r, j.c, j.pairs, j.atol, j.rtol);
      b = { nrtol: e.nrtol.value, wex: e.wex.value, widx: e.widx.value };
    }
    parentPort.postMessage({ id: j.id, a, b });
  });
  parentPort.postMessage({ ready: true });
});
`;

interface Slot {
  id: number;
  off: number;
  end: number;
  released: boolean;
  resolve: (r: { a: PassA; b: PassB | null }) => void;
  reject: (e: Error) => void;
  freed: Promise<void>;
  free: () => void;
}

/** A job: where its two arrays sit in the shared memory, and the kernel's sums once done. */
export interface PoolJob {
  memory: WasmMemory;
  rOff: number;
  cOff: number;
  result: Promise<{ a: PassA; b: PassB | null }>;
  /** Gives the job's bytes back to the ring; call once the arrays are no longer read. */
  release(): void;
}

const ALIGN = 16;
const INITIAL_BYTES = 32 * 1024 * 1024;
const MAX_PAGES = 65536;

interface WasmSharedApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
}

export class MetricsPool {
  private static single: MetricsPool | null | undefined;
  private worker?: Worker;
  private ready = false;
  private broken = false;
  private memory?: WasmMemory;
  /**
   * Set by the worker once it can take jobs. A comparison that never yields to the event loop
   * (the wasm backend's reads resolve as microtasks) would not see a 'ready' message until it
   * is over, so readiness is read from shared memory instead.
   */
  private readonly started = new Int32Array(new SharedArrayBuffer(4));
  private readonly live: Slot[] = [];
  private head = 0;
  private nextId = 1;
  private readonly byId = new Map<number, Slot>();
  private submissions: Promise<unknown> = Promise.resolve();

  /** The process's pool, started on first use; null when it cannot run here or is switched off (PARITY_METRICS_THREAD=0). */
  static get(): MetricsPool | null {
    if (MetricsPool.single === undefined) {
      MetricsPool.single = null;
      if (process.env.PARITY_METRICS_THREAD !== '0') {
        try {
          const pool = new MetricsPool();
          pool.start();
          MetricsPool.single = pool;
        } catch {
          MetricsPool.single = null;
        }
      }
    }
    return MetricsPool.single;
  }

  /** Stops the thread (a later get() starts a new one); pending jobs are measured on the main thread. */
  static async shutdown(): Promise<void> {
    const pool = MetricsPool.single;
    MetricsPool.single = undefined;
    if (pool?.worker) {
      pool.broken = true;
      await pool.worker.terminate();
    }
  }

  private start(): void {
    const WA = (globalThis as unknown as { WebAssembly?: WasmSharedApi }).WebAssembly;
    if (!WA || typeof SharedArrayBuffer === 'undefined') throw new Error('no shared wasm memory');
    const module = new WA.Module(Buffer.from(WASM_SHARED_BASE64, 'base64'));
    this.memory = new WA.Memory({ initial: INITIAL_BYTES / 65536, maximum: MAX_PAGES, shared: true });
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory: this.memory, started: this.started } });
    w.on('message', (m: { ready?: boolean; id?: number; a?: PassA; b?: PassB | null }) => {
      if (m.ready) {
        this.ready = true;
        return;
      }
      const s = this.byId.get(m.id!);
      if (!s) return;
      this.byId.delete(m.id!);
      if (!this.byId.size) w.unref();
      s.resolve({ a: m.a!, b: m.b ?? null });
    });
    const fail = (e: Error) => {
      this.broken = true;
      for (const s of this.byId.values()) s.reject(e);
      this.byId.clear();
      w.unref();
    };
    w.on('error', fail);
    w.on('exit', () => fail(new Error('the metrics worker exited')));
    // Keeps the process alive only while jobs are out (see submit); after the listeners,
    // since adding one refs the worker again.
    w.unref();
    this.worker = w;
  }

  /** Whether jobs can be posted now (the worker has started and has not failed). */
  available(): boolean {
    if (!this.ready && Atomics.load(this.started, 0) === 1) this.ready = true;
    return this.ready && !this.broken;
  }

  private capacity(): number {
    return this.memory!.buffer.byteLength;
  }

  /** Byte offset of `bytes` free bytes in the ring, waiting for older jobs when it is full. */
  private async alloc(bytes: number): Promise<number> {
    for (;;) {
      if (!this.live.length) {
        this.head = 0;
        if (bytes > this.capacity()) this.grow(bytes);
        this.head = bytes;
        return 0;
      }
      const tail = this.live[0]!.off;
      const cap = this.capacity();
      if (this.head >= tail) {
        if (cap - this.head >= bytes) return this.take(bytes);
        if (tail > bytes) {
          this.head = bytes;
          return 0;
        }
      } else if (tail - this.head > bytes) return this.take(bytes);
      // No room: wait for the oldest job to give its bytes back (its `freed` resolves only
      // when it leaves the ring, so this always waits for real progress).
      await this.live[0]!.freed;
    }
  }

  private take(bytes: number): number {
    const off = this.head;
    this.head += bytes;
    return off;
  }

  private grow(bytes: number): void {
    const want = Math.ceil(Math.max(bytes, this.capacity() * 2) / 65536);
    const have = this.capacity() / 65536;
    this.memory!.grow(Math.min(MAX_PAGES, want) - have);
  }

  /**
   * Reserves room for two float32 arrays of `n` elements, lets `fill` write them (synchronously:
   * the views are valid only then) and posts the job. Resolves once the job is posted.
   */
  submit(n: number, atol: number, rtol: number, fill: (ref: Float32Array, cand: Float32Array) => void): Promise<PoolJob> {
    // One submission at a time: a slot joins the ring only after its allocation resolves, so two
    // submissions in flight together could be handed the same bytes.
    const next = this.submissions.then(() => this.submitNow(n, atol, rtol, fill));
    this.submissions = next.catch(() => undefined);
    return next;
  }

  private async submitNow(n: number, atol: number, rtol: number, fill: (ref: Float32Array, cand: Float32Array) => void): Promise<PoolJob> {
    const half = Math.ceil((n * 4) / ALIGN) * ALIGN;
    const off = await this.alloc(half * 2);
    if (this.broken) throw new Error('the metrics worker failed');
    const memory = this.memory!;
    fill(new Float32Array(memory.buffer, off, n), new Float32Array(memory.buffer, off + half, n));
    const id = this.nextId++;
    let resolve!: Slot['resolve'];
    let reject!: Slot['reject'];
    const result = new Promise<{ a: PassA; b: PassB | null }>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let free!: () => void;
    const freed = new Promise<void>((res) => (free = res));
    const slot: Slot = { id, off, end: off + half * 2, released: false, resolve, reject, freed, free };
    this.live.push(slot);
    this.byId.set(id, slot);
    if (this.byId.size === 1) this.worker!.ref();
    this.worker!.postMessage({ id, r: off, c: off + half, pairs: n >>> 1, atol, rtol });
    return {
      memory,
      rOff: off,
      cOff: off + half,
      result,
      release: () => {
        if (slot.released) return;
        slot.released = true;
        // The ring frees from its oldest end.
        while (this.live.length && this.live[0]!.released) this.live.shift()!.free();
      },
    };
  }
}

import { MessageChannel, Worker } from 'node:worker_threads';
import type { PassA, PassB, WasmMemory } from './metric-pass.js';
import { copyInMemory, transposeArrays, transposeInMemory } from './metric-pass.js';
import { WASM_BASE64 as ARC4_BASE64 } from '../../inputs/kernel/arc4-wasm.js';
import type { Arc4State } from '../../inputs/kernel/arc4.js';
import { WASM_SHARED_BASE64 } from './metrics-wasm.js';
import { engineConfigFromEnv } from '../engine-config.js';

/**
 * The SIMD metric pass on a second thread. The main thread is busy running both models (tfjs runs
 * on one thread), so the metrics of each pair are computed meanwhile by a worker: the main
 * thread copies the two tensors into a ring in a shared wasm memory (a memcpy, much cheaper
 * than the metrics pass), appends a job to a queue in shared memory, and goes on; the worker
 * runs the same metric pass on that memory and writes the sums back beside the queue.
 *
 * When the tfjs wasm heap is shared (backend/shared-heap.ts), the ring is a block of that heap
 * (MetricsPool.regionSource, set by device.ts), so that the copy of a tensor into it is a wasm
 * memory.copy within one memory, faster than TypedArray.prototype.set between two shared
 * buffers, which is what a ring of its own needs (docs/DESIGN.md, "Measured").
 *
 * Nothing here depends on the main thread's event loop: a comparison with the wasm backend
 * can run from start to end without yielding to it (its reads resolve as microtasks), so
 * readiness, jobs and results all go through shared memory and Atomics. Each submission
 * first collects the jobs the worker has finished (in order, so the ring frees in order); when
 * the ring or the queue is full, trySubmit() says so at once and the caller measures on the
 * main thread instead of waiting. The worker also posts a message each time it runs out of
 * work, which wakes a main thread that is waiting for results.
 *
 * The same thread also draws seeded inputs' doubles ahead of time (drawDoubles: seedrandom's
 * ARC4, the module of inputs/kernel, from a state the main thread computes), a job in the same
 * queue whose output goes to a buffer of its own.
 *
 * Everything here is an optimisation: when workers, shared memory or wasm SIMD are missing,
 * or the worker fails, available() is false and callers compute on the main thread with the
 * same metric pass (the same numbers: same code, same order of sums); jobs already posted are
 * finished on the main thread from their copies in the ring.
 */

// The worker is a script in a string (eval), so that it runs the same from src/ under vitest
// and from dist/; it only instantiates the metric pass on the shared memory and runs jobs. It uses
// a dynamic import, which works whether the worker inherits a CommonJS or an ES module
// setting (e.g. a parent started with --input-type=module).
const A_KEYS = ['sr', 'sc', 'sabs', 'ssq', 'dot', 'nr', 'nc', 'rmin', 'rmax', 'cmin', 'cmax', 'maxabs', 'maxrel', 'natol', 'close'] as const;
/** Control words: the worker has started; jobs written; jobs done; the worker sleeps. */
const STARTED = 0;
const WRITTEN = 1;
const DONE = 2;
/** Set by the worker while it sleeps in Atomics.wait: only then does a submission notify it. */
const SLEEPING = 3;
/** How long the worker looks for new jobs before it sleeps. */
const SPIN_MS = 1;
/** Then for how long (since it ran out of work) it naps NAP_MS at a time, needing no wake-up. */
const NAP_UNTIL_MS = 50;
const NAP_MS = 0.1;
/** Job queue slots, and the doubles of one job's description and of its result. */
const QUEUE = 1024;
/** A draw's shared buffer: status, i, j (Int32), S at 16..271, then the doubles. */
const DRAW_HEADER = 272;
const JOB_WORDS = 6;
const RESULT_WORDS = 20;

const WORKER_SOURCE = `
import('node:worker_threads').then(({ parentPort, workerData, receiveMessageOnPort }) => {
  // One metric-pass instance per memory: 0 is the ring; others (a shared tfjs heap) arrive on the port.
  const instances = [new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports];
  const instanceFor = (k) => {
    while (!instances[k]) {
      const m = receiveMessageOnPort(workerData.port);
      if (m) instances[m.message.index] = new WebAssembly.Instance(workerData.module, { env: { memory: m.message.memory } }).exports;
    }
    return instances[k];
  };
  const ctl = new Int32Array(workerData.ctl);
  const jobs = new Float64Array(workerData.jobs);
  const res = new Float64Array(workerData.results);
  const A = ${JSON.stringify(A_KEYS)};
  // Fault the ring's pages in here, not on the main thread's first copies: an atomic add of 0
  // per page, which changes nothing the main thread may be writing meanwhile.
  const pages = new Int32Array(workerData.memory.buffer, workerData.ring[0], workerData.ring[1] / 4);
  for (let i = 0; i < pages.length; i += 1024) Atomics.add(pages, i, 0);
  Atomics.store(ctl, ${STARTED}, 1);
  let done = 0;
  let arc4;
  for (;;) {
    const written = Atomics.load(ctl, ${WRITTEN});
    if (done === written) {
      // Out of work: wake the main thread's event loop (it may be waiting for results). Then
      // look for the next job for a moment before sleeping: jobs come every few hundred
      // microseconds while the models run, and waking a sleeping thread costs the poster a
      // system call (on a virtual machine, far more).
      parentPort.postMessage(done);
      const t0 = performance.now();
      while (Atomics.load(ctl, ${WRITTEN}) === written && performance.now() < t0 + ${SPIN_MS});
      // Then in short naps that nobody needs to end, for a while: a submission wakes this thread
      // only once it sleeps for good.
      while (Atomics.load(ctl, ${WRITTEN}) === written && performance.now() < t0 + ${NAP_UNTIL_MS}) Atomics.wait(ctl, ${WRITTEN}, written, ${NAP_MS});
      if (Atomics.load(ctl, ${WRITTEN}) !== written) continue;
      Atomics.store(ctl, ${SLEEPING}, 1);
      if (Atomics.load(ctl, ${WRITTEN}) === written) Atomics.wait(ctl, ${WRITTEN}, written);
      Atomics.store(ctl, ${SLEEPING}, 0);
      continue;
    }
    const q = done % ${QUEUE};
    const j = q * ${JOB_WORDS};
    if (jobs[j + 5] === -1) {
      // Seeded doubles (MetricsPool.drawDoubles): seedrandom's ARC4 from the given state.
      let m;
      while (!(m = receiveMessageOnPort(workerData.drawPort)));
      const { sab, count } = m.message;
      const st = new Int32Array(sab, 0, 4);
      if (Atomics.compareExchange(st, 0, 0, 1) === 0) {
        arc4 ??= new WebAssembly.Instance(workerData.arc4, {}).exports;
        new Uint8Array(arc4.memory.buffer, 0, 256).set(new Uint8Array(sab, 16, 256));
        arc4.setState(st[1], st[2]);
        const out = new Float64Array(sab, ${DRAW_HEADER}, count);
        for (let k = 0; k < count; ) {
          const n = Math.min(4096, count - k);
          arc4.doubles(1024, n);
          out.set(new Float64Array(arc4.memory.buffer, 1024, n), k);
          k += n;
        }
        Atomics.store(st, 0, 2);
        Atomics.notify(st, 0);
      }
      done++;
      Atomics.store(ctl, ${DONE}, done);
      continue;
    }
    const r = jobs[j], c = jobs[j + 1], pairs = jobs[j + 2], atol = jobs[j + 3], rtol = jobs[j + 4];
    const e = instanceFor(jobs[j + 5]);
    e.passA(r, c, pairs, atol, rtol);
    const o = q * ${RESULT_WORDS};
    for (let k = 0; k < A.length; k++) res[o + k] = e[A[k]].value;
    res[o + 15] = 0;
    if (Number.isFinite(res[o]) && Number.isFinite(res[o + 1]) && res[o + 14] < pairs * 2) {
      e.passB(r, c, pairs, atol, rtol);
      res[o + 15] = 1;
      res[o + 16] = e.nrtol.value;
      res[o + 17] = e.wex.value;
      res[o + 18] = e.widx.value;
      res[o + 19] = e.close.value;
    }
    done++;
    Atomics.store(ctl, ${DONE}, done);
  }
});
`;

/** Where a job's two arrays sit in the shared memory (valid until its finish callback returns). */
export interface JobView {
  memory: WasmMemory;
  rOff: number;
  cOff: number;
}

/** The metric pass's sums for a job; null when the worker failed and the caller must compute them from the view. */
export type JobSums = { a: PassA; b: PassB | null } | null;

interface Slot {
  id: number;
  /** Ring bytes held (off -1: an in-place job, holding `bytes` of its caller's memory). */
  off: number;
  bytes: number;
  view: JobView;
  finish: (k: JobSums, view: JobView) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const ALIGN = 16;
/**
 * The ring's size to begin with (it grows to fit a pair larger than itself). Smaller rings fill
 * up and send pairs back to the main thread; faulting its pages in is the worker's job as it
 * starts, not the main thread's first copies (measured: docs/DESIGN.md, "Measured").
 */
const INITIAL_BYTES = 32 * 1024 * 1024;
const MAX_PAGES = 65536;

/** A block of another shared memory (the tfjs wasm heap) to hold the ring. */
export interface RingRegion {
  memory: WasmMemory;
  offset: number;
  bytes: number;
  /** Gives the block back (the pool has stopped, or moved to a larger one). */
  free(): void;
}

/**
 * Where fill() copies one array from: another array, or float32 data at an offset of a wasm
 * memory, optionally transposed on the way (a batch of matrices; see batchedTranspose).
 */
export type FillSource = Float32Array | { memory: WasmMemory; offset: number; transpose?: { batches: number; rows: number; cols: number } };

interface WasmSharedApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly?: WasmSharedApi }).WebAssembly;

/** A shared memory of the ring's own, of `pages` 64 KiB pages to begin with. */
function ownRingMemory(pages: number): WasmMemory {
  return new WA!.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
}

export class MetricsPool {
  private static single: MetricsPool | null | undefined;
  private worker?: Worker;
  private ready = false;
  private broken = false;
  /** The memory holding the ring, and where in it the ring starts (0 in a memory of its own). */
  private memory?: WasmMemory;
  private base = 0;
  /** The ring's memory's index for the worker (0: the memory it started with). */
  private ringIndex = 0;
  private region?: RingRegion;
  /**
   * Where the ring goes, when given and it has a block: the tfjs heap, when that is shared (see
   * the class comment). Otherwise, or when it fails, the ring has a memory of its own.
   */
  static regionSource?: (bytes: number) => RingRegion | null;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(16));
  private readonly jobs = new Float64Array(new SharedArrayBuffer(QUEUE * JOB_WORDS * 8));
  private readonly results = new Float64Array(new SharedArrayBuffer(QUEUE * RESULT_WORDS * 8));
  /** Jobs posted and not yet finished, oldest first: they hold the ring's bytes in this order. */
  private readonly live: Slot[] = [];
  private head = 0;
  private written = 0;
  private finished = 0;
  /** Callers of submit() waiting for room. */
  private waiters: (() => void)[] = [];
  /** Other shared memories the worker knows, by index (0 is the ring), and the port that tells it of new ones. */
  private readonly memories = new Map<WasmMemory, number>();
  private readonly port = new MessageChannel();
  /** The port that hands the worker the buffers of seeded draws. */
  private readonly drawPort = new MessageChannel();
  private inPlaceBytes = 0;

  /** The process's pool, started on first use; null when it cannot run here or is switched off (PARITY_METRICS_THREAD=0). */
  static get(): MetricsPool | null {
    if (MetricsPool.single === undefined) {
      MetricsPool.single = null;
      if (engineConfigFromEnv().metricsThread) {
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

  /** Stops the thread (a later get() starts a new one); jobs still out are finished on the main thread. */
  static async shutdown(): Promise<void> {
    const pool = MetricsPool.single;
    MetricsPool.single = undefined;
    if (pool?.worker) {
      pool.fail();
      await pool.worker.terminate();
    }
    pool?.freeRegion();
  }

  private freeRegion(): void {
    const r = this.region;
    this.region = undefined;
    try {
      r?.free();
    } catch {
      /* the tfjs backend is gone, and its heap with it */
    }
  }

  /** Tries a block of the tfjs heap for the ring (true), or leaves the ring where it is. */
  private useRegion(bytes: number): boolean {
    let region: RingRegion | null = null;
    try {
      region = MetricsPool.regionSource?.(bytes) ?? null;
    } catch {
      region = null;
    }
    if (!region) return false;
    this.freeRegion();
    this.region = region;
    this.moveRing(region.memory, region.offset);
    return true;
  }

  /** The ring is now at `base` in `memory` (which the worker learns of, if it is new to it). */
  private moveRing(memory: WasmMemory, base: number): void {
    this.memory = memory;
    this.base = base;
    if (!this.worker) this.memories.set(memory, 0);
    this.ringIndex = this.indexOf(memory);
  }

  /** The worker's index for a shared memory, telling the worker of it when it is new. */
  private indexOf(memory: WasmMemory): number {
    let index = this.memories.get(memory);
    if (index === undefined) {
      index = this.memories.size + 1;
      this.memories.set(memory, index);
      // Read by the worker (receiveMessageOnPort) when it first meets a job on this memory.
      this.port.port1.postMessage({ index, memory });
    }
    return index;
  }

  private start(): void {
    if (!WA || typeof SharedArrayBuffer === 'undefined') throw new Error('no shared wasm memory');
    const module = new WA.Module(Buffer.from(WASM_SHARED_BASE64, 'base64'));
    if (!this.useRegion(INITIAL_BYTES)) this.moveRing(ownRingMemory(INITIAL_BYTES / 65536), 0);
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        module,
        memory: this.memory,
        ring: [this.base, this.capacity()],
        ctl: this.ctl.buffer,
        jobs: this.jobs.buffer,
        results: this.results.buffer,
        port: this.port.port2,
        arc4: new WA.Module(Buffer.from(ARC4_BASE64, 'base64')),
        drawPort: this.drawPort.port2,
      },
      transferList: [this.port.port2, this.drawPort.port2],
    });
    this.port.port1.unref();
    this.drawPort.port1.unref();
    w.on('message', () => this.poll());
    w.on('error', () => this.fail());
    w.on('exit', () => this.fail());
    // Keeps the process alive only while jobs are out (see trySubmit); after the listeners,
    // since adding one refs the worker again.
    w.unref();
    this.worker = w;
  }

  /** Whether jobs can be posted now (the worker has started and has not failed). */
  available(): boolean {
    if (!this.ready && Atomics.load(this.ctl, STARTED) === 1) this.ready = true;
    return this.ready && !this.broken;
  }

  /** Finishes, in order, the jobs the worker is done with: their bytes go back to the ring. */
  private poll(): void {
    const done = Atomics.load(this.ctl, DONE);
    let progressed = false;
    while (this.finished < done && this.live.length) {
      const slot = this.live[0]!;
      const o = (slot.id % QUEUE) * RESULT_WORDS;
      const r = this.results;
      const a = {} as PassA;
      A_KEYS.forEach((k, i) => (a[k] = r[o + i]!));
      const b = r[o + 15] === 1 ? { close: r[o + 19]!, nrtol: r[o + 16]!, wex: r[o + 17]!, widx: r[o + 18]! } : null;
      this.finished++;
      this.complete(slot, { a, b });
      progressed = true;
    }
    if (progressed) this.wake();
  }

  private complete(slot: Slot, k: JobSums): void {
    let value: unknown;
    let error: unknown;
    let ok = true;
    try {
      value = slot.finish(k, slot.view);
    } catch (e) {
      ok = false;
      error = e;
    }
    // Read by finish() (or given up): the bytes can be reused.
    this.live.shift();
    if (slot.off < 0) this.inPlaceBytes -= slot.bytes;
    if (!this.live.length) this.worker?.unref();
    if (ok) slot.resolve(value);
    else slot.reject(error);
  }

  /** The worker is gone: what it did not finish is finished here, from the copies in the ring. */
  private fail(): void {
    if (this.broken) return;
    this.poll();
    this.broken = true;
    while (this.live.length) this.complete(this.live[0]!, null);
    this.worker?.unref();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private capacity(): number {
    return this.region ? this.region.bytes : this.memory!.buffer.byteLength;
  }

  /** Byte offset of `bytes` free bytes in the ring, or -1 when they are not free now. */
  private alloc(bytes: number): number {
    const oldest = this.live.find((x) => x.off >= 0);
    if (!oldest) {
      if (bytes > this.capacity() && !this.grow(bytes)) return -1;
      this.head = bytes;
      return 0;
    }
    const tail = oldest.off;
    if (this.head >= tail) {
      if (this.capacity() - this.head >= bytes) return this.take(bytes);
      if (tail > bytes) {
        this.head = bytes;
        return 0;
      }
    } else if (tail - this.head > bytes) return this.take(bytes);
    return -1;
  }

  private take(bytes: number): number {
    const off = this.head;
    this.head += bytes;
    return off;
  }

  /** Makes the ring (empty now) hold at least `bytes`; false when it cannot. */
  private grow(bytes: number): boolean {
    const want = Math.max(bytes, this.capacity() * 2);
    const pages = Math.min(MAX_PAGES, Math.ceil(want / 65536));
    try {
      if (this.region) {
        if (this.useRegion(want)) return true;
        // No larger block in the tfjs heap: a memory of the ring's own from now on.
        this.freeRegion();
        this.moveRing(ownRingMemory(pages), 0);
      } else this.memory!.grow(pages - this.capacity() / 65536);
    } catch {
      return false;
    }
    return this.capacity() >= bytes;
  }

  /**
   * Posts a job for two float32 arrays of `n` elements if there is room now: `fill` writes them
   * (synchronously: the views are valid only then), directly or with `put`, which copies the
   * fastest way it can (within one memory when the source is in the ring's). Once the worker is
   * done, `finish` runs on the main thread with the sums and the view (still valid during the
   * call), and `result` resolves to what it returns. Null when the thread is not available or the ring or queue is
   * full: the caller measures on the main thread.
   */
  trySubmit<T>(
    n: number,
    atol: number,
    rtol: number,
    fill: (ref: Float32Array, cand: Float32Array, put: (dst: Float32Array, src: FillSource) => void) => void,
    finish: (k: JobSums, view: JobView) => T,
  ): { result: Promise<T> } | null {
    if (!this.available()) return null;
    this.poll();
    if (this.written - this.finished >= QUEUE) return null;
    const half = Math.ceil((n * 4) / ALIGN) * ALIGN;
    const rel = this.alloc(half * 2);
    if (rel < 0) return null;
    const memory = this.memory!;
    const off = this.base + rel;
    fill(new Float32Array(memory.buffer, off, n), new Float32Array(memory.buffer, off + half, n), (dst, src) => this.put(dst, src));
    return this.post(this.ringIndex, off, off + half, n, atol, rtol, { memory, rOff: off, cOff: off + half }, half * 2, finish, false, rel);
  }

  /** Arrays fill() copied transposed (for tests and diagnostics). */
  transposed = 0;

  private put(dst: Float32Array, src: FillSource): void {
    if (src instanceof Float32Array) dst.set(src);
    else if (src.transpose) {
      this.transposed++;
      const { batches, rows, cols } = src.transpose;
      if (src.memory !== this.memory || !transposeInMemory(src.memory, dst.byteOffset, src.offset, batches, rows, cols)) transposeArrays(dst, new Float32Array(src.memory.buffer, src.offset, dst.length), batches, rows, cols);
    } else if (src.memory !== this.memory || !copyInMemory(src.memory, dst.byteOffset, src.offset, dst.byteLength)) dst.set(new Float32Array(src.memory.buffer, src.offset, dst.length));
  }

  /**
   * Posts a job on data already in another shared memory (the tfjs heap made shared): no copy.
   * The caller keeps the data alive until `finish` has run. Null when the thread is not
   * available, or when in-place jobs already hold `maxHeld` bytes of the caller's memory.
   */
  trySubmitInPlace<T>(memory: WasmMemory, rOff: number, cOff: number, n: number, atol: number, rtol: number, maxHeld: number, finish: (k: JobSums, view: JobView) => T): { result: Promise<T> } | null {
    if (!this.available() || !(memory.buffer instanceof SharedArrayBuffer)) return null;
    this.poll();
    const bytes = n * 8;
    if (this.written - this.finished >= QUEUE || (this.inPlaceBytes > 0 && this.inPlaceBytes + bytes > maxHeld)) return null;
    const index = this.indexOf(memory);
    this.inPlaceBytes += bytes;
    return this.post(index, rOff, cOff, n, atol, rtol, { memory, rOff, cOff }, bytes, finish, true);
  }

  private post<T>(memIndex: number, rOff: number, cOff: number, n: number, atol: number, rtol: number, view: JobView, bytes: number, finish: (k: JobSums, view: JobView) => T, inPlace = false, ringOff = -1): { result: Promise<T> } {
    const id = this.written;
    const j = (id % QUEUE) * JOB_WORDS;
    this.jobs[j] = rOff;
    this.jobs[j + 1] = cOff;
    this.jobs[j + 2] = n >>> 1;
    this.jobs[j + 3] = atol;
    this.jobs[j + 4] = rtol;
    this.jobs[j + 5] = memIndex;
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<T>((res, rej) => {
      resolve = res as (v: unknown) => void;
      reject = rej;
    });
    this.live.push({ id, off: inPlace ? -1 : ringOff, bytes, view, finish, resolve, reject });
    if (this.live.length === 1) this.worker!.ref();
    this.written++;
    Atomics.store(this.ctl, WRITTEN, this.written);
    // Both sequentially consistent: either the worker sees the new count before it sleeps, or
    // this sees it asleep (and Atomics.wait returns at once if the count changed before it).
    if (Atomics.load(this.ctl, SLEEPING) === 1) Atomics.notify(this.ctl, WRITTEN);
    return { result };
  }

  /**
   * Draws `count` of seedrandom's doubles from ARC4 state `state` on the worker, while the main
   * thread does something else (it loads the candidate model). take() gives them, waiting if
   * the worker is at it; null (draw them yourself) when the worker has not started on them, or
   * cannot. Null at once when the thread is not available.
   */
  drawDoubles(state: Arc4State, count: number): { take(): Float64Array | null } | null {
    if (!this.available() || count <= 0 || this.written - this.finished >= QUEUE) return null;
    const sab = new SharedArrayBuffer(DRAW_HEADER + count * 8);
    const st = new Int32Array(sab, 0, 4);
    st[1] = state.i;
    st[2] = state.j;
    new Uint8Array(sab, 16, 256).set(state.S);
    this.drawPort.port1.postMessage({ sab, count });
    this.post(-1, 0, 0, 0, 0, 0, { memory: this.memory!, rOff: 0, cOff: 0 }, 0, () => undefined, true);
    let taken = false;
    return {
      take: () => {
        if (taken) return null;
        taken = true;
        // Not started: the worker will skip it.
        if (Atomics.compareExchange(st, 0, 0, 3) === 0) return null;
        while (Atomics.load(st, 0) === 1) {
          if (this.broken) return null;
          Atomics.wait(st, 0, 1, 50);
        }
        return Atomics.load(st, 0) === 2 ? new Float64Array(sab, DRAW_HEADER, count) : null;
      },
    };
  }

  /** trySubmit(), waiting for room when the ring or queue is full; throws when the thread is not available. */
  async submit<T>(n: number, atol: number, rtol: number, fill: (ref: Float32Array, cand: Float32Array, put: (dst: Float32Array, src: FillSource) => void) => void, finish: (k: JobSums, view: JobView) => T): Promise<{ result: Promise<T> }> {
    for (;;) {
      if (!this.available()) throw new Error('the metrics thread is not available');
      const job = this.trySubmit(n, atol, rtol, fill, finish);
      if (job) return job;
      // Nothing out to wait for, and still no room: the ring cannot grow to this.
      if (!this.live.length && this.written - this.finished < QUEUE) throw new Error(`the metrics thread's ring cannot hold ${n} element pairs`);
      // Woken when the worker finishes jobs (its message when it runs dry) or fails.
      await new Promise<void>((res) => this.waiters.push(res));
    }
  }
}

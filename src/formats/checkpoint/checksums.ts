import { Worker } from 'node:worker_threads';
import { crc32cExtend, crc32cTables, maskCrc } from './crc32c.js';

/**
 * The crc32c checks of a bundle's tensors. TensorFlow checks every tensor it reads (DataLoss
 * otherwise), and so does tf-parity; in JavaScript crc32c runs at ~0.5 GB/s, as slow as reading,
 * so a multi-GB variables bundle spent as long checksumming as reading. Tensors of at least
 * THREAD_BYTES are read into shared memory and checked on a worker thread while the next ones
 * are read; smaller ones are checked at once. A loader awaits `settle()` before the values are
 * used: it throws the first failed check (the same one-line error as a check done at once).
 */
export const THREAD_BYTES = 8 << 20;

/** What a failed check throws, given the masked crc the bytes have. */
export type ChecksumFailure = (gotMasked: number) => Error;

export class Checksums {
  private pending: Promise<void>[] = [];

  /** Whether bytes of this size should be read into shared memory (to be checked on the thread). */
  static wantsShared(size: number): boolean {
    return size >= THREAD_BYTES;
  }

  /** Checks `bytes` against the masked crc32c `expected`: at once, or on the thread when they are big and shared. */
  check(bytes: Uint8Array, expected: number, fail: ChecksumFailure): void {
    if (bytes.byteLength < THREAD_BYTES || !(bytes.buffer instanceof SharedArrayBuffer)) {
      const got = maskCrc(crc32cExtend(0, bytes));
      if (got !== expected) throw fail(got);
      return;
    }
    const p = thread()
      .crc(bytes)
      .then((crc) => {
        const got = maskCrc(crc);
        if (got !== expected) throw fail(got);
      });
    // Held until settle(); a failure before then is not an unhandled rejection.
    p.catch(() => {});
    this.pending.push(p);
  }

  /** Waits for the checks on the thread; throws the first that failed. */
  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = [];
    await Promise.all(p);
  }
}

interface Job {
  resolve(crc: number): void;
  reject(e: Error): void;
}

/** One worker per process, created for the first big tensor; it keeps the process alive only while it has work. */
class ChecksumThread {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private next = 0;

  constructor() {
    const source = [
      `const { parentPort } = require('node:worker_threads');`,
      `const TABLES = (${crc32cTables.toString()})();`,
      `const crc32cExtend = ${crc32cExtend.toString()};`,
      `parentPort.on('message', ({ id, buffer, offset, length }) => parentPort.postMessage({ id, crc: crc32cExtend(0, new Uint8Array(buffer, offset, length)) }));`,
    ].join('\n');
    this.worker = new Worker(source, { eval: true });
    this.worker.unref();
    this.worker.on('message', ({ id, crc }: { id: number; crc: number }) => this.done(id)?.resolve(crc));
    this.worker.on('error', (e: Error) => this.failAll(e));
    this.worker.on('exit', (code) => this.failAll(new Error(`the checksum thread exited (code ${code})`)));
  }

  crc(bytes: Uint8Array): Promise<number> {
    const id = this.next++;
    return new Promise<number>((resolve, reject) => {
      if (this.jobs.size === 0) this.worker.ref();
      this.jobs.set(id, { resolve, reject });
      this.worker.postMessage({ id, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength });
    });
  }

  private done(id: number): Job | undefined {
    const job = this.jobs.get(id);
    this.jobs.delete(id);
    if (this.jobs.size === 0) this.worker.unref();
    return job;
  }

  private failAll(e: Error): void {
    for (const id of [...this.jobs.keys()]) this.done(id)?.reject(e);
    shared = undefined;
  }
}

let shared: ChecksumThread | undefined;

function thread(): ChecksumThread {
  return (shared ??= new ChecksumThread());
}

import { tf } from '../backend/tf.js';
import type { WasmMemory } from './simd/metric-pass.js';
import { MetricsPool, type RingRegion } from './simd/pool.js';

/**
 * Where a float32 tensor's values sit in the tfjs wasm backend's heap, so the SIMD metric pass can
 * read them in place. This reads two internals of tfjs 4 (the engine's tensorInfo, the wasm
 * backend's dataIdMap and its module's memory, plain or shared); when any of them is not what is expected (a
 * tensor on another backend, another tfjs version) the answer is null and callers copy the
 * values to the host instead, so a change in tfjs costs speed, never correctness.
 */
interface EngineInternals {
  state?: { tensorInfo?: { get(dataId: object): { backend?: unknown } | undefined } };
}
interface WasmBackendInternals {
  wasm?: { asm?: { memory?: { buffer?: unknown; grow?: unknown } }; _malloc?(bytes: number): number; _free?(ptr: number): void };
  dataIdMap?: { get(dataId: object): { memoryOffset?: number | null } | undefined };
}

export function wasmHeapView(t: tf.Tensor): { memory: WasmMemory; offset: number } | null {
  if (t.dtype !== 'float32' || t.isDisposed) return null;
  const info = (tf.engine() as unknown as EngineInternals).state?.tensorInfo?.get(t.dataId);
  const backend = info?.backend as WasmBackendInternals | undefined;
  const memory = backend?.wasm?.asm?.memory;
  // A plain heap, or a shared one (backend/shared-heap.ts).
  const buf = memory?.buffer as unknown;
  const isBuffer = buf instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer);
  if (!memory || !isBuffer || typeof memory.grow !== 'function') return null;
  const offset = backend?.dataIdMap?.get(t.dataId)?.memoryOffset;
  if (typeof offset !== 'number' || offset % 4 !== 0 || offset + t.size * 4 > (buf as ArrayBuffer).byteLength) return null;
  return { memory: memory as WasmMemory, offset };
}

/**
 * A block of the tfjs wasm heap for the metrics thread's ring, when the current backend is wasm
 * and its heap is shared (backend/shared-heap.ts): copies of tensors into it are then copies
 * within one memory (see simd/pool.ts). Null otherwise. The block is 16-byte aligned.
 */
export function tfjsHeapRegion(bytes: number): RingRegion | null {
  if (tf.getBackend() !== 'wasm') return null;
  const w = (tf.backend() as unknown as WasmBackendInternals).wasm;
  const memory = w?.asm?.memory;
  if (!w || !memory || typeof SharedArrayBuffer === 'undefined' || !(memory.buffer instanceof SharedArrayBuffer) || typeof memory.grow !== 'function') return null;
  const malloc = w._malloc;
  const free = w._free;
  if (typeof malloc !== 'function' || typeof free !== 'function') return null;
  const ptr = malloc.call(w, bytes + 16);
  if (!ptr || ptr + bytes + 16 > (memory.buffer as SharedArrayBuffer).byteLength) return null;
  let freed = false;
  return {
    memory: memory as WasmMemory,
    offset: Math.ceil(ptr / 16) * 16,
    bytes,
    free: () => {
      if (!freed) free.call(w, ptr);
      freed = true;
    },
  };
}

MetricsPool.regionSource = tfjsHeapRegion;

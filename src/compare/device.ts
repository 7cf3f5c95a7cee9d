import * as tf from '@tensorflow/tfjs-core';
import type { WasmMemory } from './kernel/kernel.js';

/**
 * Where a float32 tensor's values sit in the tfjs wasm backend's heap, so the metric kernel can
 * read them in place. This reads two internals of tfjs 4 (the engine's tensorInfo, the wasm
 * backend's dataIdMap and its module's memory, plain or shared); when any of them is not what is expected (a
 * tensor on another backend, another tfjs version) the answer is null and callers copy the
 * values to the host instead, so a change in tfjs costs speed, never correctness.
 */
interface EngineInternals {
  state?: { tensorInfo?: { get(dataId: object): { backend?: unknown } | undefined } };
}
interface WasmBackendInternals {
  wasm?: { asm?: { memory?: { buffer?: unknown; grow?: unknown } } };
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

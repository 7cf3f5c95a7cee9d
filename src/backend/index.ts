import { createRequire } from 'node:module';
import { requireBackend, tf } from './tf.js';
import { withSharedHeap } from './shared-heap.js';
import { ParityError, errorMessage } from '../core/errors.js';

// Registered with tfjs-core as they load (see tf.ts for why not an import).
requireBackend('@tensorflow/tfjs-backend-cpu');
requireBackend('@tensorflow/tfjs-backend-wasm');

/**
 * Backend selection. Default order: tfjs-node ('tensorflow') when it loads, else wasm, else cpu.
 * Ops whose kernel the chosen backend lacks run on cpu (see runWithFallback).
 */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  /** Kernels that ran on cpu because the chosen backend lacks them (filled as they happen). */
  fallbackKernels: Set<string>;
  tfjsVersion: string;
  /** Why the automatic choice skipped a backend it would otherwise take (said in run notes and Result warnings). */
  note?: string;
}

/**
 * Past this many bytes of model files the automatic choice takes cpu over wasm. On wasm every
 * weight of a big graph is copied into the backend's heap when a node needs it and packed again
 * by XNNPACK on each run (a 32-bit heap: 4 GiB at most, so big weights cannot stay there);
 * cpu computes on the weights where they were read. On a 2.4 GB SavedModel (bench/big-variables.ts)
 * cpu ran in 1.07x the weight bytes and 2.4 s of inference, wasm in 1.38x and 6.1 s.
 * A backend asked for by name is used whatever the size.
 */
export const WASM_MODEL_BYTES_LIMIT = 1.5 * 2 ** 30;

export interface BackendRequest {
  /** Bytes of the model files this process will load (both models for a comparison). */
  modelBytes?: number;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

let current: BackendInfo | undefined;

/** tfjs prints an "install tfjs-node" banner and other notes through console.warn unless PROD is set. */
function silenceTfjs(): void {
  try {
    tf.env().set('PROD', true);
  } catch {
    /* flag not registered in this build: nothing to silence */
  }
}

function tryLoadNode(): boolean {
  if (tf.findBackend('tensorflow')) return true;
  try {
    const require = createRequire(import.meta.url);
    require('@tensorflow/tfjs-node');
    return tf.findBackend('tensorflow') !== null && tf.findBackend('tensorflow') !== undefined;
  } catch {
    return false;
  }
}

export async function initBackend(requested: BackendName | 'auto' = 'auto', request: BackendRequest = {}): Promise<BackendInfo> {
  silenceTfjs();
  const bytes = request.modelBytes ?? 0;
  const tooBigForWasm = bytes > WASM_MODEL_BYTES_LIMIT;
  // An automatic choice is redone when the size that decided it changed sides (a process that
  // compares a huge model, then a small one, goes back to wasm).
  const usable = (b: BackendInfo) =>
    (requested === 'auto' || requested === b.name) && tf.getBackend() === b.name && !(requested === 'auto' && (b.name === 'wasm' ? tooBigForWasm : b.note !== undefined && !tooBigForWasm));
  if (current && usable(current)) return current;
  const order: BackendName[] = requested === 'auto' ? (['tensorflow', 'wasm', 'cpu'] as const).filter((b) => b !== 'wasm' || !tooBigForWasm) : [requested];
  const failures: string[] = [];
  for (const name of order) {
    if (name === 'tensorflow' && !tryLoadNode()) {
      failures.push('tensorflow: @tensorflow/tfjs-node is not installed or did not load');
      continue;
    }
    try {
      // The cpu backend must be initialised too: it runs the kernels the main backend lacks.
      if (name !== 'cpu') await tf.setBackend('cpu');
      // The wasm backend's heap is made a shared memory (see shared-heap.ts), so that the
      // metrics thread reads activations in place; PARITY_SHARED_HEAP=0 keeps it private.
      const ok =
        name === 'wasm' && process.env.PARITY_SHARED_HEAP !== '0' && !tf.findBackend('wasm')
          ? (await withSharedHeap(() => tf.setBackend(name), (imports) => !!imports && 'wasi_snapshot_preview1' in imports)).value
          : await tf.setBackend(name);
      if (!ok) {
        failures.push(`${name}: initialisation failed`);
        continue;
      }
      await tf.ready();
      current = { name, fallbackKernels: new Set(), tfjsVersion: tf.version_core };
      if (tooBigForWasm && requested === 'auto' && name === 'cpu') {
        current.note = `running on cpu: the models' ${gb(bytes)} of weights are used where they were read (wasm would copy each into its heap and pack it again on every run; --backend wasm to use it anyway)`;
      }
      return current;
    } catch (e) {
      failures.push(`${name}: ${errorMessage(e)}`);
    }
  }
  throw new ParityError(`no usable tfjs backend (${failures.join('; ')})`, { code: 'backend' });
}

export function backendInfo(): BackendInfo | undefined {
  return current;
}

const NOT_REGISTERED = /Kernel '([^']+)' not registered for backend '([^']+)'/;

/**
 * Runs `fn` (a synchronous tfjs computation) on the current backend; when that backend
 * lacks a kernel it needs, runs it again on cpu. Tensors produced on cpu move back to the
 * main backend lazily when the next op reads them.
 */
export function runWithFallback<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const m = NOT_REGISTERED.exec(errorMessage(e));
    if (!m || tf.getBackend() === 'cpu') throw e;
    const main = tf.getBackend();
    current?.fallbackKernels.add(m[1]!);
    const engine = tf.engine() as unknown as { setBackend(n: string): Promise<boolean>; backendName: string; backendInstance: unknown; registry: Record<string, unknown> };
    switchSync(engine, 'cpu');
    try {
      return fn();
    } finally {
      switchSync(engine, main);
    }
  }
}

/** tf.setBackend is async only for first initialisation; both backends here are initialised. */
function switchSync(engine: { backendName: string; backendInstance: unknown; registry: Record<string, unknown> }, name: string): void {
  const inst = engine.registry[name];
  if (!inst) throw new ParityError(`backend '${name}' is not initialised`, { code: 'backend' });
  engine.backendName = name;
  engine.backendInstance = inst;
}

/**
 * Another handle on a tensor's values, without copying them: reshape to the same shape shares
 * the data on every backend, while tf.clone copies it on the wasm backend (a full copy of every
 * recorded activation). Each handle is disposed on its own.
 */
export function share(t: tf.Tensor): tf.Tensor {
  return tf.reshape(t, t.shape);
}

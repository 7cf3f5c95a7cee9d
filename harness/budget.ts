/**
 * What a case's process may need in memory, so that a suite running cases side by side starts
 * one only when it fits (the rest wait): the models' bytes several times over (weights read,
 * uploaded to the backend, both models' activations held for alignment) plus what tf-parity and
 * its backend take before any model loads.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CaseSpec } from './case.js';

/** A process with tf-parity loaded and the backend initialised, before any model (MB). */
export const BASE_MB = 300;
/** Peak memory per byte of model files: weights in the file, on the backend, and activations. */
export const PER_MODEL_BYTE = 3;

/** Bytes of a model: its file, or the files of its folder (SavedModel, tfjs, checkpoint). */
export function modelBytes(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (st.isFile()) {
    // A tfjs model.json or a checkpoint's .meta names weights beside it: count the folder.
    return /(?:model\.json|\.meta|\.index)$/.test(path) ? folderBytes(dirname(path), 2) : st.size;
  }
  return st.isDirectory() ? folderBytes(path, 3) : 0;
}

function folderBytes(dir: string, depth: number): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isFile()) n += statSync(p).size;
    else if (e.isDirectory() && depth > 1) n += folderBytes(p, depth - 1);
  }
  return n;
}

/** The memory a case is expected to need (MB); with a heap limit, at least that limit. */
export function caseMemoryMb(spec: Pick<CaseSpec, 'original' | 'candidate'>, memoryMb?: number): number {
  const estimate = BASE_MB + (PER_MODEL_BYTE * (modelBytes(spec.original) + modelBytes(spec.candidate))) / 2 ** 20;
  return Math.ceil(Math.max(estimate, memoryMb ? memoryMb + BASE_MB : 0));
}

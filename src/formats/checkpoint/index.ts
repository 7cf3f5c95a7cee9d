import { openBundle } from './bundle.js';

/**
 * TF1 checkpoints (.meta + .index + .data) and SavedModels, read without TensorFlow.
 * The format dispatcher (src/formats/index.ts) calls loadCheckpointGraph/loadSavedModelGraph;
 * `parity inspect` uses listCheckpointTensors and listSignatures.
 */
export { loadCheckpointGraph } from './metagraph.js';
export { listSignatures, loadSavedModelGraph } from './savedmodel.js';
export type { SavedModelOptions } from './savedmodel.js';
export type { SignatureInfo } from './metagraph.js';
export { openBundle, resolveCheckpointPrefix } from './bundle.js';
export type { Bundle, BundleTensorInfo } from './bundle.js';

/** Every tensor of a checkpoint: name, dtype, shape, bytes (works without a .meta file). */
export function listCheckpointTensors(path: string): { name: string; dtype: string; shape: number[]; bytes: number }[] {
  return openBundle(path).list().map(({ name, dtype, shape, bytes }) => ({ name, dtype, shape, bytes }));
}

import { ParityError } from '../../core/errors.js';
import type { Graph } from '../../graph/ir.js';

/**
 * TF1 checkpoints (.meta + .index + .data) and SavedModels, read without TensorFlow.
 * Placeholder until the tensor bundle reader lands: the format dispatcher calls these.
 */
export async function loadCheckpointGraph(path: string): Promise<Graph> {
  throw new ParityError(`${path}: TF1 checkpoints are not supported yet`, { code: 'unsupported', file: path });
}

export async function loadSavedModelGraph(dir: string, opts: { signature?: string; tags?: string[] } = {}): Promise<Graph> {
  void opts;
  throw new ParityError(`${dir}: SavedModels are not supported yet`, { code: 'unsupported', file: dir });
}

/** Every tensor of a checkpoint: name, dtype, shape, bytes (works without a .meta file). */
export function listCheckpointTensors(path: string): { name: string; dtype: string; shape: number[]; bytes: number }[] {
  throw new ParityError(`${path}: reading checkpoints is not supported yet`, { code: 'unsupported', file: path });
}

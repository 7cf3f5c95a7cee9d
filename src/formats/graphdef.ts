import { FormatError, errorMessage } from '../core/errors.js';
import type { Graph } from '../graph/ir.js';
import { tfType } from '../proto/index.js';
import { graphFromGraphDef } from './tensor-proto.js';

/** Binary GraphDef (.pb) -> Graph. Truncated or garbage bytes give a FormatError naming the file. */
export function readGraphDef(bytes: Uint8Array, file: string): Graph {
  if (bytes.length === 0) throw new FormatError(`${file}: empty file, not a GraphDef`, { file });
  let msg: Record<string, unknown>;
  try {
    msg = tfType('GraphDef').decode(bytes) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(
      `${file}: not a valid binary GraphDef (${errorMessage(e)}); truncated or not a .pb file? ` +
        `(a SavedModel is read from its folder, a TF1 .meta as a checkpoint)`,
      { file, cause: e },
    );
  }
  const nodes = (msg.node as unknown[] | undefined) ?? [];
  if (nodes.length === 0) throw new FormatError(`${file}: the GraphDef has no nodes (not a GraphDef, or an empty graph)`, { file });
  return graphFromGraphDef(msg, { path: file, format: 'pb' });
}

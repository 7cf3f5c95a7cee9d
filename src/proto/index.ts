import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * Loads the .proto schemas from the package's proto/ folder (found by walking up from this
 * file, so it works from src/ under vitest and from dist/src/ after the build).
 *
 * int64 fields: protobufjs decodes them as Long objects when the `long` package is present
 * (a dependency of protobufjs). Without it they would come out as lossy doubles, so loading
 * refuses to go on; readers turn Longs into exact numbers or BigInts (src/formats/tensor-proto.ts).
 */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'proto', 'tensorflow', 'graph.proto'))) return join(dir, 'proto');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`tf-parity: the proto/ folder was not found above ${dirname(fileURLToPath(import.meta.url))}`);
}

const roots = new Map<string, protobuf.Root>();

function load(files: string[], key: string): protobuf.Root {
  const cached = roots.get(key);
  if (cached) return cached;
  if (!protobuf.util.Long) throw new Error('tf-parity: protobufjs has no Long support; int64 values would lose precision');
  const base = protoDir();
  const root = new protobuf.Root();
  // google/protobuf/*.proto (Any, wrappers) are bundled with protobufjs and resolved by it.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(base, target));
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  roots.set(key, root);
  return root;
}

/** Every TensorFlow message type tf-parity reads (package `tensorflow`), plus google.protobuf.Any. */
export function tfRoot(): protobuf.Root {
  return load(
    [
      'tensorflow/graph.proto',
      'tensorflow/meta_graph.proto',
      'tensorflow/saved_model.proto',
      'tensorflow/tensor_bundle.proto',
      'tensorflow/trackable_object_graph.proto',
    ],
    'tf',
  );
}

/** A message type by name, package optional for TensorFlow's: `GraphDef`, `MetaGraphDef.MetaInfoDef`, `google.protobuf.Any`. */
export function tfType(name: string): protobuf.Type {
  const full = name.startsWith('google.') || name.startsWith('tensorflow.') ? name : `tensorflow.${name}`;
  return tfRoot().lookupType(full);
}

/** ONNX's schema (proto/onnx/onnx.proto). */
export function onnxRoot(): protobuf.Root {
  return load(['onnx/onnx.proto'], 'onnx');
}

export { protobuf };

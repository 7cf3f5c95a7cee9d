import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * Loads the .proto schemas from the package's proto/ folder (found by walking up from this
 * file, so it works from src/ under vitest and from dist/src/ after the build).
 */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'tensorflow', 'graph.proto'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('tf-parity: proto/ folder not found next to the package');
}

const roots = new Map<string, protobuf.Root>();

function load(files: string[], key: string): protobuf.Root {
  const cached = roots.get(key);
  if (cached) return cached;
  const base = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(base, target);
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  roots.set(key, root);
  return root;
}

/** Every TensorFlow message type tf-parity reads. */
export function tfRoot(): protobuf.Root {
  return load(
    ['tensorflow/graph.proto', 'tensorflow/meta_graph.proto', 'tensorflow/saved_model.proto', 'tensorflow/tensor_bundle.proto', 'tensorflow/trackable_object_graph.proto'],
    'tf',
  );
}

export function tfType(name: string): protobuf.Type {
  return tfRoot().lookupType(`tensorflow.${name}`);
}

/** ONNX's schema (proto/onnx/onnx.proto). */
export function onnxRoot(): protobuf.Root {
  return load(['onnx/onnx.proto'], 'onnx');
}

export { protobuf };

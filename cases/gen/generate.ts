/**
 * Generates the example models of cases/ from code (run: npm run gen:cases).
 *   cnn.pb            the original: a frozen TensorFlow GraphDef
 *   cnn.keras         a correct Keras 3 conversion
 *   cnn-buggy.keras   a conversion with a known bug (dw1 padded (0,2) instead of SAME's (1,1))
 *   cnn.onnx          a correct ONNX conversion (NCHW, generic names)
 *   cnn-tfjs/         the original converted to a TensorFlow.js graph model
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import { cnnGraph } from './cnn.js';
import { kerasCnn } from './keras-cnn.js';
import { cnnOnnx } from './onnx-cnn.js';

export async function generateCaseModels(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    written.push(name);
  };
  put('cnn.pb', encodeGraphDef(cnnGraph(undefined, 'none', 'cnn.pb')));
  put('cnn.keras', await kerasCnn());
  put('cnn-buggy.keras', await kerasCnn(undefined, 'dw1-padding'));
  put('cnn.onnx', cnnOnnx());
  writeTfjsGraphModel(cnnGraph(), join(dir, 'cnn-tfjs'));
  written.push('cnn-tfjs/model.json', 'cnn-tfjs/group1-shard1of1.bin');
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'models');
  const files = await generateCaseModels(dir);
  console.log(`wrote ${files.join(', ')} to ${dir}`);
}

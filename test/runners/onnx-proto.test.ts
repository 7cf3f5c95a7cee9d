import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { onnxRoot } from '../../src/proto/index.js';
import { loadOnnxRunner } from '../../src/runners/onnx/index.js';
import { cnnModel } from '../fixtures/onnx-writer.js';

/**
 * proto/onnx/onnx.proto against independent copies of ONNX's schema when the machine has them
 * (Debian's python3-onnx: `apt-get install python3-onnx`); skipped otherwise.
 */
const DEBIAN_PROTO = '/usr/lib/python3/dist-packages/onnx/onnx.proto';
const dir = mkdtempSync(join(tmpdir(), 'parity-onnx-proto-'));

function fields(root: protobuf.Root): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (ns: protobuf.NamespaceBase, prefix: string): void => {
    for (const n of ns.nestedArray) {
      const full = `${prefix}${n.name}`;
      if (n instanceof protobuf.Type) for (const f of n.fieldsArray) out.set(`${full}.${f.name}`, `${f.id} ${f.repeated ? 'repeated' : 'optional'} ${f.type}${f.packed ? ' packed' : ''}`);
      if (n instanceof protobuf.Enum) for (const [k, v] of Object.entries(n.values)) out.set(`${full}::${k}`, String(v));
      if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n, `${full}.`);
    }
  };
  walk(root.lookup('onnx') as protobuf.Namespace, '');
  return out;
}

describe('proto/onnx/onnx.proto', () => {
  it.skipIf(!existsSync(DEBIAN_PROTO))("holds every field of Debian's onnx.proto with the same number, label, type and packing", () => {
    const theirs = fields(new protobuf.Root().loadSync(DEBIAN_PROTO, { keepCase: true }));
    const ours = fields(onnxRoot());
    const diffs = [...theirs].filter(([k, v]) => !k.startsWith('Version::') && ours.get(k) !== v).map(([k, v]) => `${k}: theirs ${v}, ours ${ours.get(k) ?? 'missing'}`);
    expect(diffs).toEqual([]);
    expect(theirs.size).toBeGreaterThan(100);
  });

  const pyOnnx = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!pyOnnx)('the fixture CNN passes onnx.checker and decodes to the same graph in the onnx package', () => {
    const cnn = cnnModel();
    const f = join(dir, 'cnn.onnx');
    writeFileSync(f, cnn.bytes);
    const r = spawnSync(
      '/usr/bin/python3',
      ['-c', `import onnx, sys, json
from onnx import numpy_helper
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)
w = numpy_helper.to_array([t for t in m.graph.initializer if t.name == "conv_w"][0])
print(json.dumps({"ops": [n.op_type for n in m.graph.node], "w": [float(v) for v in w.flatten()[:5]], "shape": list(w.shape),
  "dims": [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]}))`, f],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as { ops: string[]; w: number[]; shape: number[]; dims: (string | number)[] };
    expect(got.ops).toEqual(cnn.values.map((v) => v.op));
    expect(got.shape).toEqual([4, 3, 3, 3]);
    expect(got.w).toEqual(Array.from(cnn.convW.slice(0, 5)));
    expect(got.dims).toEqual(['N', 3, 9, 7]);
  });

  it('fields a newer ONNX adds (unknown to this schema) do not stop a model from loading and running', async () => {
    const cnn = cnnModel();
    // ModelProto field 99 (varint 1) and graph field 98 (a string), appended as a newer writer might.
    const tag = (field: number, wire: number): number[] => {
      const out: number[] = [];
      let v = (field << 3) | wire;
      while (v > 0x7f) {
        out.push((v & 0x7f) | 0x80);
        v >>>= 7;
      }
      out.push(v);
      return out;
    };
    const inner = [...tag(98, 2), 3, 0x61, 0x62, 0x63];
    const extra = Uint8Array.from([...tag(99, 0), 1, ...tag(7, 2), inner.length, ...inner]);
    const bytes = new Uint8Array(cnn.bytes.length + extra.length);
    bytes.set(cnn.bytes);
    bytes.set(extra, cnn.bytes.length);
    const f = join(dir, 'future.onnx');
    writeFileSync(f, bytes);
    const r = await loadOnnxRunner(f);
    const x = tf.ones(cnn.inputShape);
    const names: string[] = [];
    for await (const a of r.run(new Map([['input', x]]))) {
      names.push(a.name);
      a.tensor.dispose();
    }
    x.dispose();
    r.dispose();
    expect(names).toEqual(cnn.values.map((v) => v.name));
  });
});

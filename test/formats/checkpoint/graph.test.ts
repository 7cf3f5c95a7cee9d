import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/core/errors.js';
import type { HostTensor } from '../../../src/core/tensor.js';
import { listCheckpointTensors, listSignatures, loadCheckpointGraph, loadSavedModelGraph, openBundle } from '../../../src/formats/checkpoint/index.js';
import { graphStats, loadGraph } from '../../../src/formats/index.js';
import type { Graph } from '../../../src/graph/ir.js';
import { tfType } from '../../../src/proto/index.js';
import { writeBundle } from '../../fixtures/bundle-writer.js';
import { metaGraphBytes, savedModelBytes } from '../../fixtures/savedmodel-writer.js';
import { A, GraphBuilder, expectClose, host, runGraph } from '../../fixtures/graph.js';

const REGRESSION = join(import.meta.dirname, '../../../../shared/models/tf2onnx-tests/regression');
const REDUNDANT = join(import.meta.dirname, '../../../../shared/models/tf2onnx-tests/saved_model_with_redundant_inputs');

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'parity-ckptg-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();
const strings = (...s: string[]): HostTensor => ({ dtype: 'string', shape: [s.length], data: s.map((x) => enc.encode(x)) });

async function run(g: Graph, feeds: Record<string, tf.Tensor>, outputs: string[]) {
  return runGraph(g, feeds, outputs);
}

describe.skipIf(!existsSync(REGRESSION))('real TensorFlow files (tf2onnx regression model)', () => {
  const W = 0.21396178;
  const B = 1.04952538;

  it('reads the two float32 values of the checkpoint written by TF', () => {
    const b = openBundle(join(REGRESSION, 'checkpoint'));
    expect(b.names()).toEqual(['W', 'b']);
    expectClose(b.read('W').data as Float32Array, [W], 1e-8);
    expectClose(b.read('b').data as Float32Array, [B], 1e-8);
    expect(listCheckpointTensors(join(REGRESSION, 'checkpoint', 'model.index'))).toEqual([
      { name: 'W', dtype: 'float32', shape: [], bytes: 4 },
      { name: 'b', dtype: 'float32', shape: [], bytes: 4 },
    ]);
  });

  it('loads model.meta + checkpoint and computes pred = 2w + b', async () => {
    const g = await loadCheckpointGraph(join(REGRESSION, 'checkpoint'));
    expect(g.source.format).toBe('checkpoint');
    expect(g.inputs.map((s) => s.name)).toEqual(['X', 'Y']);
    // No signature in a training checkpoint: its default outputs are the inference sinks; the
    // loss (truediv), which reads the label Y, and the training and saving nodes are set aside.
    expect(g.outputs).toEqual(['pred']);
    expect([...g.variables!.keys()]).toEqual(['W', 'b']);
    expect(g.nodes.find((n) => n.name === 'W')!.op).toBe('Const');
    const res = await run(g, { X: tf.tensor1d([2]) }, ['pred']);
    expectClose(res.get('pred')!.values, [2 * W + B], 1e-6);
    // The same through the format dispatcher, from the .meta path.
    const g2 = await loadGraph(join(REGRESSION, 'checkpoint', 'model.meta'));
    expect(g2.variables!.size).toBe(2);
  });

  it('loads the SavedModel (tag serve, serving_default) and computes the same pred', async () => {
    const g = await loadSavedModelGraph(join(REGRESSION, 'saved_model'), { tags: ['serve'] });
    expect(g.source.format).toBe('saved-model');
    expect(g.inputs).toEqual([{ name: 'X', dtype: 'float32', shape: null, alias: 'X' }]);
    expect(g.outputs).toEqual(['pred']);
    const res = await run(g, { X: tf.tensor1d([2]) }, g.outputs);
    expectClose(res.get('pred')!.values, [2 * W + B], 1e-6);
    expect(listSignatures(join(REGRESSION, 'saved_model'))).toEqual([
      {
        name: 'serving_default',
        method: 'tensorflow/serving/predict',
        inputs: [{ alias: 'X', name: 'X', dtype: 'float32', shape: null }],
        outputs: [{ alias: 'pred', name: 'pred', dtype: 'float32', shape: null }],
      },
    ]);
    await expect(loadSavedModelGraph(join(REGRESSION, 'saved_model'), { tags: ['train'] })).rejects.toThrow(/no MetaGraphDef with tags \[train\]; the SavedModel has \[serve\]/);
    await expect(loadSavedModelGraph(join(REGRESSION, 'saved_model'), { signature: 'predict' })).rejects.toThrow(/no signature 'predict'.*'serving_default'/);
  });

  it.skipIf(!existsSync(REDUNDANT))('loads a SavedModel without variables', async () => {
    const g = await loadSavedModelGraph(REDUNDANT);
    // Its signature feeds both placeholders (one unconnected) and reads Add.
    expect(g.inputs).toEqual([
      { name: 'Placeholder', dtype: 'float32', shape: [1, 10], alias: 'x' },
      { name: 'Placeholder_1', dtype: 'float32', shape: [1, 10], alias: 'y' },
    ]);
    expect(g.outputs).toEqual(['Add']);
    expect(g.variables).toBeUndefined();
  });
});

/** A TF1 training graph: a renamed VariableV2, a resource variable, a partitioned variable, Saver, initializer, training op. */
function tf1Graph(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [-1, 2]);
  g.op('VariableV2', 'dense/kernel', [], { dtype: A.dtype('float32'), shape: A.shape([2, 2]), container: A.str(''), shared_name: A.str('') });
  g.op('Identity', 'dense/kernel/read', ['dense/kernel'], { T: A.dtype('float32') });
  g.op('VarHandleOp', 'dense/bias', [], { dtype: A.dtype('float32'), shape: A.shape([2]), shared_name: A.str('dense/bias') });
  g.op('ReadVariableOp', 'dense/bias/Read/ReadVariableOp', ['dense/bias'], { dtype: A.dtype('float32') });
  g.op('MatMul', 'dense/MatMul', [x, 'dense/kernel/read'], { T: A.dtype('float32'), transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('BiasAdd', 'dense/BiasAdd', ['dense/MatMul', 'dense/bias/Read/ReadVariableOp'], { T: A.dtype('float32') });
  g.op('Identity', 'out', ['dense/BiasAdd'], { T: A.dtype('float32') });
  g.op('VariableV2', 'emb/part_0', [], { dtype: A.dtype('float32'), shape: A.shape([2, 2]) });
  g.op('VariableV2', 'emb/part_1', [], { dtype: A.dtype('float32'), shape: A.shape([1, 2]) });
  g.op('Identity', 'emb_out', ['emb/part_1'], { T: A.dtype('float32') });
  // Training and initialisation: never outputs, never executed.
  g.const('lr', host('float32', [], [0.1]));
  g.const('grad', host('float32', [2, 2], [1, 1, 1, 1]));
  g.op('ApplyGradientDescent', 'train/update', ['dense/kernel', 'lr', 'grad'], { T: A.dtype('float32') });
  g.const('init_k', host('float32', [2, 2], [0, 0, 0, 0]));
  g.op('Assign', 'dense/kernel/Assign', ['dense/kernel', 'init_k'], { T: A.dtype('float32') });
  g.op('NoOp', 'init', ['^dense/kernel/Assign']);
  // The Saver: the kernel is saved under another name, emb as two slices of one tensor.
  g.const('save/Const', strings('model'));
  g.const('save/RestoreV2/tensor_names', strings('my_kernel', 'dense/bias', 'emb', 'emb'));
  g.const('save/RestoreV2/shape_and_slices', strings('', '', '3 2 0,2:-', '3 2 2,1:-'));
  g.op('RestoreV2', 'save/RestoreV2', ['save/Const', 'save/RestoreV2/tensor_names', 'save/RestoreV2/shape_and_slices'], {
    dtypes: A.list({ dtypes: ['float32', 'float32', 'float32', 'float32'] }),
  });
  g.op('Assign', 'save/Assign', ['dense/kernel', 'save/RestoreV2'], { T: A.dtype('float32') });
  g.op('Identity', 'save/Identity_1', ['save/RestoreV2:1'], { T: A.dtype('float32') });
  g.op('AssignVariableOp', 'save/AssignVariableOp', ['dense/bias', 'save/Identity_1'], { dtype: A.dtype('float32') });
  g.op('Assign', 'save/Assign_2', ['emb/part_0', 'save/RestoreV2:2'], { T: A.dtype('float32') });
  g.op('Assign', 'save/Assign_3', ['emb/part_1', 'save/RestoreV2:3'], { T: A.dtype('float32') });
  g.op('NoOp', 'save/restore_all', ['^save/Assign', '^save/AssignVariableOp', '^save/Assign_2', '^save/Assign_3']);
  return g.build([]);
}

function tf1Checkpoint(prefix: string, kernelKey = 'my_kernel') {
  writeBundle(prefix, [
    { name: kernelKey, tensor: host('float32', [2, 2], [1, 2, 3, 4]) },
    { name: 'dense/bias', tensor: host('float32', [2], [10, 20]) },
    { name: 'global_step', tensor: { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) } },
  ], {
    sliced: [{
      name: 'emb', dtype: 'float32', fullShape: [3, 2],
      parts: [
        { slice: [{ start: 0, length: 2 }, { start: 0 }], tensor: host('float32', [2, 2], [1, 2, 3, 4]) },
        { slice: [{ start: 2, length: 1 }, { start: 0 }], tensor: host('float32', [1, 2], [5, 6]) },
      ],
    }],
  });
}

describe('loadCheckpointGraph (synthetic TF1 checkpoints)', () => {
  it("restores variables through the Saver's RestoreV2 mapping, resource variables and partitions included", async () => {
    const dir = tmp();
    const prefix = join(dir, 'model.ckpt-7');
    tf1Checkpoint(prefix);
    writeFileSync(prefix + '.meta', metaGraphBytes(tf1Graph(), { saver_def: { restore_op_name: 'save/restore_all', version: 2 } }));
    writeFileSync(join(dir, 'checkpoint'), 'model_checkpoint_path: "model.ckpt-7"\n');
    const g = await loadCheckpointGraph(dir);
    expect(g.outputs).toEqual(['out', 'emb_out']);
    expect(g.inputs.map((s) => s.name)).toEqual(['x']);
    expect([...g.variables!.keys()].sort()).toEqual(['dense/bias', 'dense/kernel', 'emb/part_0', 'emb/part_1']);
    expect(Array.from(g.variables!.get('emb/part_0')!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(g.nodes.find((n) => n.name === 'dense/bias/Read/ReadVariableOp')!.op).toBe('Identity');
    const res = await run(g, { x: tf.tensor2d([[1, 1]]) }, g.outputs);
    // [1,1] @ [[1,2],[3,4]] + [10,20]
    expect(res.get('out')!.values).toEqual([14, 26]);
    expect(res.get('emb_out')!.values).toEqual([5, 6]);
  });

  it('names the variable, the checkpoint and near names when a value is missing', async () => {
    const dir = tmp();
    const prefix = join(dir, 'ck');
    tf1Checkpoint(prefix, 'dense/kernell');
    writeFileSync(prefix + '.meta', metaGraphBytes(tf1Graph()));
    const err = await loadCheckpointGraph(prefix + '.index').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    const msg = (err as FormatError).message;
    // One line: the file, the count, the variable, its key and the stored names nearest to it.
    expect(msg).toBe(
      `${prefix}.index: 1 variable(s) of the graph have no value in the checkpoint, which holds 4 tensors (written for another version of the graph?): ` +
        "'dense/kernel' (checkpoint key 'my_kernel'; nearest stored names 'dense/kernell')",
    );
    expect((err as FormatError).node).toBe('dense/kernel');
    // A checkpoint of another model: every variable is missing; the first three are named, on one line.
    const other = join(dir, 'other');
    writeBundle(other, [{ name: 'global_step', tensor: { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) } }]);
    writeFileSync(other + '.meta', metaGraphBytes(tf1Graph()));
    const all = (await loadCheckpointGraph(other + '.index').catch((e: unknown) => e)) as FormatError;
    expect(all).toBeInstanceOf(FormatError);
    expect(all.message).not.toContain('\n');
    expect(all.message).toMatch(/^\S+other\.index: 4 variable\(s\) of the graph have no value in the checkpoint, which holds 1 tensor /);
    expect(all.message).toMatch(/: 'dense\/kernel' \(checkpoint key 'my_kernel'\), '[^']+'( \([^)]*\))?, '[^']+'( \([^)]*\))?, and 1 more$/);
  });

  it('falls back to variable names without a Saver, and checks dtype and shape', async () => {
    const g = new GraphBuilder();
    g.op('VariableV2', 'v', [], { dtype: A.dtype('float32'), shape: A.shape([3]) });
    g.op('Identity', 'y', ['v'], { T: A.dtype('float32') });
    const dir = tmp();
    writeBundle(join(dir, 'a'), [{ name: 'v', tensor: host('float32', [3], [1, 2, 3]) }]);
    writeFileSync(join(dir, 'a.meta'), metaGraphBytes(g.build([])));
    const ga = await loadCheckpointGraph(join(dir, 'a'));
    expect((await run(ga, {}, ['y'])).get('y')!.values).toEqual([1, 2, 3]);
    // Counted once, although the variable is now also a Const node.
    expect(graphStats(ga).parameters).toBe(3);
    writeBundle(join(dir, 'b'), [{ name: 'v', tensor: host('float32', [2], [1, 2]) }]);
    writeFileSync(join(dir, 'b.meta'), metaGraphBytes(g.build([])));
    await expect(loadCheckpointGraph(join(dir, 'b'))).rejects.toThrow(/variable 'v' has shape \[3\] in the graph, but checkpoint tensor 'v' has \[2\]/);
  });

  it('says what is missing when there is no .meta file', async () => {
    const dir = tmp();
    writeBundle(join(dir, 'only'), [{ name: 'v', tensor: host('float32', [1], [1]) }]);
    await expect(loadCheckpointGraph(join(dir, 'only'))).rejects.toThrow(/only\.meta is missing/);
  });
});

describe('loadSavedModelGraph (text format, TF1 style)', () => {
  it('reads saved_model.pbtxt and resolves VariableV2 nodes by name from variables/', async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'saved_model.pbtxt'),
      `saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "train" }
  graph_def { node { name: "unused" op: "NoOp" } }
}
meta_graphs {
  meta_info_def { tags: "serve" tags: "gpu" }
  graph_def {
    node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
    node { name: "w" op: "VariableV2" attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "shape" value { shape { dim { size: 2 } } } } }
    node { name: "w/read" op: "Identity" input: "w" attr { key: "T" value { type: DT_FLOAT } } }
    node { name: "y" op: "Mul" input: "x" input: "w/read" attr { key: "T" value { type: DT_FLOAT } } }
  }
  signature_def {
    key: "predict"
    value {
      inputs { key: "in" value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 2 } } } }
      outputs { key: "out" value { name: "y:0" dtype: DT_FLOAT } }
    }
  }
}
`,
    );
    mkdirSync(join(dir, 'variables'));
    writeBundle(join(dir, 'variables', 'variables'), [{ name: 'w', tensor: host('float32', [2], [3, -4]) }]);
    // Tags are matched as a set; the only signature stands in for serving_default.
    const g = await loadSavedModelGraph(dir, { tags: ['gpu', 'serve'] });
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 2], alias: 'in' }]);
    expect((await run(g, { x: tf.tensor2d([[1, 2]]) }, g.outputs)).get('y')!.values).toEqual([3, -8]);
    await expect(loadSavedModelGraph(dir)).rejects.toThrow(/no MetaGraphDef with tags \[serve\]; the SavedModel has \[train\], \[serve, gpu\]/);
  });
});

describe('loadSavedModelGraph (synthetic TF2 SavedModel)', () => {
  function build(dir: string) {
    const g = new GraphBuilder();
    g.placeholder('serving_default_x', 'float32', [-1, 2]);
    g.op('VarHandleOp', 'unique_handle', [], { dtype: A.dtype('float32'), shape: A.shape([2]), shared_name: A.str('dense/bias_17') });
    g.op('VarHandleOp', 'unused_handle', [], { dtype: A.dtype('float32'), shape: A.shape([]), shared_name: A.str('unused') });
    g.op('StatefulPartitionedCall', 'StatefulPartitionedCall', ['serving_default_x', 'unique_handle'], {
      f: A.func('__inference_signature_wrapper_5'),
      Tin: A.list({ dtypes: ['float32', 'resource'] }),
      Tout: A.list({ dtypes: ['float32'] }),
    });
    const sig = {
      serving_default: {
        inputs: { x: { name: 'serving_default_x:0', dtype: 1, tensor_shape: { dim: [{ size: -1 }, { size: 2 }] } } },
        outputs: { y: { name: 'StatefulPartitionedCall:0', dtype: 1, tensor_shape: { dim: [{ size: -1 }, { size: 2 }] } } },
        method_name: 'tensorflow/serving/predict',
      },
      __saved_model_init_op: { outputs: { __saved_model_init_op: { name: 'NoOp' } } },
    };
    // SavedObjectGraph and the checkpoint's TrackableObjectGraph number their nodes differently;
    // only the child names from the root line up.
    const objectGraph = {
      nodes: [
        { children: [{ node_id: 1, local_name: 'layer_with_weights-0' }, { node_id: 3, local_name: 'signatures' }], user_object: {} },
        { children: [{ node_id: 2, local_name: 'bias' }], user_object: {} },
        { variable: { dtype: 1, shape: { dim: [{ size: 2 }] }, name: 'dense/bias' } },
        { user_object: {} },
      ],
      concrete_functions: { __inference_signature_wrapper_5: { bound_inputs: [2] } },
    };
    const mg = metaGraphBytes(g.build([]), { meta_info_def: { tags: ['serve'] }, signature_def: sig, object_graph_def: objectGraph });
    writeFileSync(join(dir, 'saved_model.pb'), savedModelBytes([mg]));
    const T = tfType('TrackableObjectGraph');
    const tog = T.encode(T.fromObject({
      nodes: [
        { children: [{ node_id: 3, local_name: 'layer_with_weights-0' }, { node_id: 1, local_name: 'save_counter' }] },
        { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'save_counter/.ATTRIBUTES/VARIABLE_VALUE' }] },
        { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'decoy/.ATTRIBUTES/VARIABLE_VALUE' }] },
        { children: [{ node_id: 4, local_name: 'bias' }] },
        { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE' }] },
      ],
    })).finish();
    mkdirSync(join(dir, 'variables'));
    writeBundle(join(dir, 'variables', 'variables'), [
      { name: '_CHECKPOINTABLE_OBJECT_GRAPH', tensor: { dtype: 'string', shape: [], data: [tog] } },
      { name: 'layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE', tensor: host('float32', [2], [0.5, -1.5]) },
      { name: 'decoy/.ATTRIBUTES/VARIABLE_VALUE', tensor: host('float32', [2], [99, 99]) },
      { name: 'save_counter/.ATTRIBUTES/VARIABLE_VALUE', tensor: { dtype: 'int64', shape: [], data: BigInt64Array.from([1n]) } },
    ]);
  }

  it('maps object-graph checkpoint keys to the VarHandleOps captured by the signature call', async () => {
    const dir = tmp();
    build(dir);
    const g = await loadSavedModelGraph(dir);
    expect(g.inputs).toEqual([{ name: 'serving_default_x', dtype: 'float32', shape: [-1, 2], alias: 'x' }]);
    expect(g.outputs).toEqual(['StatefulPartitionedCall']);
    expect(Object.keys(g.signatures!)).toEqual(['serving_default']);
    expect(g.signatures!.serving_default!.outputs.y).toEqual({ name: 'StatefulPartitionedCall', dtype: 'float32', shape: [-1, 2] });
    expect([...g.variables!.keys()]).toEqual(['unique_handle']);
    expect(Array.from(g.variables!.get('unique_handle')!.data as Float32Array)).toEqual([0.5, -1.5]);
    const h = g.nodes.find((n) => n.name === 'unique_handle')!;
    expect(h.op).toBe('Const');
    // A VarHandleOp nothing reads and nothing maps stays as it was.
    expect(g.nodes.find((n) => n.name === 'unused_handle')!.op).toBe('VarHandleOp');
    expect(listSignatures(dir).map((s) => s.name)).toEqual(['serving_default']);
  });
});

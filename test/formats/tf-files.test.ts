import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsupportedError } from '../../src/core/errors.js';
import type { HostTensor } from '../../src/core/tensor.js';
import { describeModel, formatDescription } from '../../src/formats/describe.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { loadGraph } from '../../src/formats/index.js';
import type { Graph, GraphNode } from '../../src/graph/ir.js';
import { feedShapeWarnings, generateFeeds, loadFeeds } from '../../src/inputs/generate.js';
import { writeNpzFile } from '../../src/inputs/npz.js';
import { detectKind, loadModel } from '../../src/runners/index.js';
import type { BundleTensor } from '../fixtures/bundle-writer.js';
import { writeBundle } from '../fixtures/bundle-writer.js';
import { runOutputs } from '../fixtures/run-outputs.js';
import { A, GraphBuilder, host } from '../fixtures/graph.js';
import { metaGraphBytes, trackableObjectGraphBytes, writeSavedModel } from '../fixtures/savedmodel-writer.js';
import { fn, node } from '../fixtures/savedmodels.js';
import { tfType } from '../../src/proto/index.js';

/**
 * Issue 22: files shaped like those TensorFlow wrote for other projects (TF Serving's and
 * tfjs-node's test SavedModels, an Estimator export, a TF 0.x GraphDef, an ML.NET training
 * checkpoint), written here by the repo's own writers. Expected values are hand-computed.
 */

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tf-files-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const f32 = A.dtype('float32');
const i32 = A.dtype('int32');
const strings = (...s: string[]): HostTensor => ({ dtype: 'string', shape: [s.length], data: s.map((x) => new TextEncoder().encode(x)) });

/** Runs a loaded model on host feeds; outputs by name as plain arrays. */
async function runModel(path: string, feeds: Map<string, HostTensor>, opts: Parameters<typeof loadModel>[1] = {}) {
  const { runner } = await loadModel(path, opts);
  return runOutputs(runner, feeds);
}

/**
 * tfjs-node's model_multi_output, in small: a tf.Module with two variables that tf.Variable
 * named alike ('Variable'): v (float32 1.5, unused by the signature) and two (int32 2). The
 * signature (x, y: int32 scalars) -> (x * two, y) captures only `two`; the restore function
 * (saver_def's restore op) restores both handles by checkpoint key.
 */
function twoVariablesModel(dir: string, opts: { restoreFunction?: boolean } = {}) {
  const g = new GraphBuilder();
  g.op('VarHandleOp', 'Variable', [], { dtype: f32, shape: A.shape([]), shared_name: A.str('Variable') });
  g.op('VarHandleOp', 'Variable_1', [], { dtype: i32, shape: A.shape([]), shared_name: A.str('Variable_1') });
  g.placeholder('serving_default_x', 'int32', []);
  g.placeholder('serving_default_y', 'int32', []);
  g.op('StatefulPartitionedCall', 'StatefulPartitionedCall', ['serving_default_x', 'serving_default_y', 'Variable_1'], { f: A.func('__inference_signature_wrapper_37') });
  g.placeholder('saver_filename', 'string', []);
  if (opts.restoreFunction !== false) g.op('StatefulPartitionedCall', 'StatefulPartitionedCall_2', ['saver_filename', 'Variable', 'Variable_1'], { f: A.func('__inference__traced_restore_91') });
  const graph = g.build([]);
  graph.functions.set('__inference_signature_wrapper_37', {
    ...fn('__inference_signature_wrapper_37', [{ name: 'x' }, { name: 'y' }, { name: 'res', dtype: 'resource' }], ['output_0', 'output_1'], [
      node('read', 'ReadVariableOp', ['res'], { dtype: i32 }),
      node('mul', 'Mul', ['x', 'read:value:0'], { T: i32 }),
      node('ident', 'Identity', ['y'], { T: i32 }),
    ], { output_0: 'mul:z:0', output_1: 'ident:output:0' }),
    inputArgs: [{ name: 'x', dtype: 'int32' }, { name: 'y', dtype: 'int32' }, { name: 'res', dtype: 'resource' }],
    outputArgs: [{ name: 'output_0', dtype: 'int32' }, { name: 'output_1', dtype: 'int32' }],
  });
  graph.functions.set('__inference__traced_restore_91', {
    name: '__inference__traced_restore_91',
    inputArgs: [{ name: 'file_prefix', dtype: 'string' }, { name: 'assignvariableop_variable', dtype: 'resource' }, { name: 'assignvariableop_1_variable_1', dtype: 'resource' }],
    outputArgs: [{ name: 'identity', dtype: 'string' }],
    attrs: {},
    nodes: [
      node('RestoreV2/tensor_names', 'Const', [], { value: A.tensor(strings('v/.ATTRIBUTES/VARIABLE_VALUE', 'two/.ATTRIBUTES/VARIABLE_VALUE')), dtype: A.dtype('string') }),
      node('RestoreV2/shape_and_slices', 'Const', [], { value: A.tensor(strings('', '')), dtype: A.dtype('string') }),
      node('RestoreV2', 'RestoreV2', ['file_prefix', 'RestoreV2/tensor_names:output:0', 'RestoreV2/shape_and_slices:output:0'], { dtypes: A.list({ dtypes: ['float32', 'int32'] }) }),
      node('Identity', 'Identity', ['RestoreV2:tensors:0'], { T: f32 }),
      node('AssignVariableOp', 'AssignVariableOp', ['assignvariableop_variable', 'Identity:output:0'], { dtype: f32 }),
      node('Identity_1', 'Identity', ['RestoreV2:tensors:1'], { T: i32 }),
      node('AssignVariableOp_1', 'AssignVariableOp', ['assignvariableop_1_variable_1', 'Identity_1:output:0'], { dtype: i32 }),
      node('Identity_2', 'Identity', ['file_prefix', '^AssignVariableOp', '^AssignVariableOp_1'], { T: A.dtype('string') }),
    ],
    ret: { identity: 'Identity_2:output:0' },
  });
  const scalar = (dtype: number) => ({ inputs: {}, dtype, tensor_shape: {} });
  const meta = {
    meta_info_def: { tags: ['serve'] },
    saver_def: { filename_tensor_name: 'saver_filename:0', restore_op_name: 'StatefulPartitionedCall_2', version: 2 },
    signature_def: {
      serving_default: {
        inputs: { x: { name: 'serving_default_x:0', ...scalar(3) }, y: { name: 'serving_default_y:0', ...scalar(3) } },
        outputs: { output_0: { name: 'StatefulPartitionedCall:0', ...scalar(3) }, output_1: { name: 'StatefulPartitionedCall:1', ...scalar(3) } },
        method_name: 'tensorflow/serving/predict',
      },
    },
    object_graph_def: {
      nodes: [
        { children: [{ node_id: 1, local_name: 'v' }, { node_id: 2, local_name: 'two' }], user_object: {} },
        { variable: { dtype: 1, shape: {}, name: 'Variable' } },
        { variable: { dtype: 3, shape: {}, name: 'Variable' } },
      ],
      concrete_functions: { __inference_signature_wrapper_37: { bound_inputs: [2] } },
    },
  };
  const tog = trackableObjectGraphBytes([
    { children: [{ node_id: 1, local_name: 'v' }, { node_id: 2, local_name: 'two' }] },
    { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'v/.ATTRIBUTES/VARIABLE_VALUE' }] },
    { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'two/.ATTRIBUTES/VARIABLE_VALUE' }] },
  ]);
  const variables: BundleTensor[] = [
    { name: '_CHECKPOINTABLE_OBJECT_GRAPH', tensor: { dtype: 'string', shape: [], data: [tog] } },
    { name: 'two/.ATTRIBUTES/VARIABLE_VALUE', tensor: host('int32', [], [2]) },
    { name: 'v/.ATTRIBUTES/VARIABLE_VALUE', tensor: host('float32', [], [1.5]) },
  ];
  writeSavedModel(dir, graph, meta, variables);
}

const ints = (v: number[]): HostTensor => host('int32', [v.length], v);

describe('1. signature keys name inputs (TF Serving, saved_model_cli, tfjs-node) and 4. TF2 variables as the restore op restores them', () => {
  it('feeds {x, y} by signature key, [1,2,3] to scalar-declared inputs (TF C API), and gets x*two, y', async () => {
    const dir = join(tmp(), 'multi');
    twoVariablesModel(dir);
    const g = await loadGraph(dir);
    expect(g.inputs).toEqual([
      { name: 'serving_default_x', dtype: 'int32', shape: [], alias: 'x' },
      { name: 'serving_default_y', dtype: 'int32', shape: [], alias: 'y' },
    ]);
    // Both handles bound to their own values although both SavedVariables are named 'Variable'.
    expect(g.variables!.get('Variable')).toEqual(host('float32', [], [1.5]));
    expect(g.variables!.get('Variable_1')).toEqual(host('int32', [], [2]));
    const npz = join(dir, '..', 'feeds.npz');
    writeNpzFile(npz, new Map([['x', ints([1, 2, 3])], ['y', ints([1, 2, 3])]]));
    const { runner } = await loadModel(dir);
    const feeds = loadFeeds(npz, runner.inputs());
    runner.dispose();
    expect(feedShapeWarnings(g.inputs, feeds)).toHaveLength(2);
    const out = await runModel(dir, feeds);
    expect(out.get('StatefulPartitionedCall')).toEqual({ shape: [3], values: [2, 4, 6] });
    expect(out.get('StatefulPartitionedCall:1')).toEqual({ shape: [3], values: [1, 2, 3] });
    // --input and --shape by key reach the same input.
    const gen = generateFeeds(g.inputs, { seed: 0, overrides: [{ name: 'x', shape: [2], dist: { kind: 'constant', value: 5 } }] });
    expect(gen.get('serving_default_x')).toEqual(ints([5, 5]));
    const text = formatDescription(await describeModel(dir));
    expect(text).toContain('  serving_default_x  int32[]  (signature key x)\n');
  });

  it('without the restore function, names alone would pair v with the int32 checkpoint tensor: the reader then refuses rather than swap', async () => {
    const dir = join(tmp(), 'norestore');
    twoVariablesModel(dir, { restoreFunction: false });
    await expect(loadGraph(dir)).rejects.toThrow(/variable 'Variable' is float32 in the graph, but checkpoint tensor 'two\/\.ATTRIBUTES\/VARIABLE_VALUE' is int32/);
  });
});

/**
 * TF Serving's saved_model_half_plus_two (TF1 Estimator export), in small: x and x2 are
 * Identities of ParseExample's dense outputs; y = a*x + b, y3 = a*x2 + c. serving_default feeds
 * x; regress takes serialized tf.Example strings.
 */
function halfPlusTwo(dir: string) {
  const g = new GraphBuilder();
  g.placeholder('tf_example', 'string', [-1]);
  g.const('names', strings());
  g.const('dense_keys_0', strings('x'));
  g.const('dense_keys_1', strings('x2'));
  g.const('default', host('float32', [0], []));
  g.op('ParseExample', 'ParseExample/ParseExample', ['tf_example', 'names', 'dense_keys_0', 'dense_keys_1', 'default', 'default'], {
    Nsparse: A.int(0), Ndense: A.int(2), sparse_types: A.list({ dtypes: [] }), Tdense: A.list({ dtypes: ['float32', 'float32'] }), dense_shapes: A.list({ shapes: [[1], [1]] }),
    _output_shapes: A.list({ shapes: [[-1, 1], [-1, 1]] }),
  });
  g.op('Identity', 'x', ['ParseExample/ParseExample'], { T: f32 });
  g.op('Identity', 'x2', ['ParseExample/ParseExample:1'], { T: f32 });
  for (const v of ['a', 'b', 'c']) {
    g.op('VariableV2', v, [], { dtype: f32, shape: A.shape([]), container: A.str(''), shared_name: A.str('') });
    g.op('Identity', `${v}/read`, [v], { T: f32 });
  }
  g.op('Mul', 'Mul', ['a/read', 'x'], { T: f32 });
  g.op('Add', 'y', ['Mul', 'b/read'], { T: f32 });
  g.op('Mul', 'Mul_1', ['a/read', 'x2'], { T: f32 });
  g.op('Add', 'y3', ['Mul_1', 'c/read'], { T: f32 });
  const info = (name: string, dtype: number) => ({ name, dtype, tensor_shape: { dim: [{ size: -1 }, { size: 1 }] } });
  writeSavedModel(dir, g.build([]), {
    meta_info_def: { tags: ['serve'] },
    signature_def: {
      serving_default: { inputs: { x: info('x:0', 1) }, outputs: { y: info('y:0', 1) }, method_name: 'tensorflow/serving/predict' },
      regress_x2_to_y3: { inputs: { inputs: { name: 'tf_example:0', dtype: 7, tensor_shape: { unknown_rank: true } } }, outputs: { outputs: info('y3:0', 1) }, method_name: 'tensorflow/serving/regress' },
    },
  }, [
    { name: 'a', tensor: host('float32', [], [0.5]) },
    { name: 'b', tensor: host('float32', [], [2]) },
    { name: 'c', tensor: host('float32', [], [3]) },
  ]);
}

describe('2. reach: only what the requested outputs need is required', () => {
  it('a TF1 Estimator export runs serving_default x -> y although its other signatures parse tf.Example', async () => {
    const dir = join(tmp(), 'hp2');
    halfPlusTwo(dir);
    const g = await loadGraph(dir);
    expect(g.inputs.map((s) => s.name)).toEqual(['x']);
    const out = await runModel(dir, new Map([['x', host('float32', [2, 1], [1, 2])]]));
    expect(out.get('y')).toEqual({ shape: [2, 1], values: [2.5, 3] });
    const d = await describeModel(dir);
    expect(d.unsupported).toEqual([]);
    expect(d.unreached.map((u) => u.op)).toContain('ParseExample');
    expect(formatDescription(d)).toMatch(/every op is executable\nnot needed by the outputs, never run \(\d+ op types? tf-parity cannot execute\):\n(.*\n)*  ParseExample: ParseExample\/ParseExample\n/);
  });

  it('9. a signature that takes tf.Example strings is refused with how to feed past the parser; fed by tensor name it runs', async () => {
    const dir = join(tmp(), 'hp2b');
    halfPlusTwo(dir);
    const err = await loadModel(dir, { signature: 'regress_x2_to_y3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as Error).message).toMatch(/ParseExample: ParseExample\/ParseExample\n {2}'ParseExample\/ParseExample' \(ParseExample\) parses serialized tf\.Example strings: feed the parsed tensors by name instead, e\.g\. --input 'ParseExample\/ParseExample:1=file\(x\.npy\)'/);
    const { runner, graph } = await loadModel(dir, { signature: 'regress_x2_to_y3', feeds: [{ name: 'ParseExample/ParseExample:1' }] });
    // Dtype from ParseExample's Tdense, shape from _output_shapes; tf_example is no longer asked for.
    expect(runner.inputs()).toEqual([{ name: 'ParseExample/ParseExample:1', dtype: 'float32', shape: [-1, 1] }]);
    runner.dispose();
    expect(graph!.nodes.find((n) => n.name === 'ParseExample/ParseExample')!.op).toBe('ParseExample');
    const out = await runModel(dir, new Map([['ParseExample/ParseExample:1', host('float32', [2, 1], [1, 2])]]), { signature: 'regress_x2_to_y3', feeds: [{ name: 'ParseExample/ParseExample:1' }] });
    expect(out.get('y3')).toEqual({ shape: [2, 1], values: [3.5, 4] });
  });
});

/**
 * ML.NET's cifar training checkpoint, in small: logits = Input @ W + b; a softmax loss and an
 * accuracy read the labels; tf.gradients and Adam update W; initialisers and a Saver.
 */
function trainingGraph(): Graph {
  const g = new GraphBuilder();
  g.placeholder('Input', 'float32', [-1, 2]);
  g.placeholder('Placeholder', 'int64', [-1]);
  for (const [v, shape] of [['W', [2, 2]], ['b', [2]]] as const) {
    g.op('VariableV2', v, [], { dtype: f32, shape: A.shape([...shape]), container: A.str(''), shared_name: A.str('') });
    g.op('Identity', `${v}/read`, [v], { T: f32 });
    g.const(`${v}/Initializer/zeros`, host('float32', [...shape], new Array(shape.length === 2 ? 4 : 2).fill(0)));
    g.op('Assign', `${v}/Assign`, [v, `${v}/Initializer/zeros`], { T: f32 });
  }
  g.op('MatMul', 'MatMul', ['Input', 'W/read'], { T: f32, transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('Add', 'add', ['MatMul', 'b/read'], { T: f32 });
  g.const('depth', host('int32', [], [2]));
  g.const('on', host('float32', [], [1]));
  g.const('off', host('float32', [], [0]));
  g.op('OneHot', 'one_hot', ['Placeholder', 'depth', 'on', 'off'], { T: f32, TI: A.dtype('int64'), axis: A.int(-1) });
  g.op('SoftmaxCrossEntropyWithLogits', 'xent', ['add', 'one_hot'], { T: f32 });
  g.const('axes', host('int32', [1], [0]));
  g.op('Mean', 'Mean', ['xent', 'axes'], { T: f32, Tidx: i32, keep_dims: A.bool(false) });
  g.const('am/dim', host('int32', [], [1]));
  g.op('ArgMax', 'ArgMax', ['add', 'am/dim'], { T: f32, Tidx: i32, output_type: A.dtype('int64') });
  g.op('Equal', 'Equal', ['ArgMax', 'Placeholder'], { T: A.dtype('int64') });
  g.op('Cast', 'Cast', ['Equal'], { SrcT: A.dtype('bool'), DstT: f32 });
  g.op('Mean', 'Mean_1', ['Cast', 'axes'], { T: f32, Tidx: i32, keep_dims: A.bool(false) });
  // Shape bookkeeping of constants, as losses keep.
  g.op('Shape', 'loss/values/shape', ['axes'], { T: i32, out_type: i32 });
  g.const('gradients/Shape', host('int32', [0], []));
  g.const('gradients/grad_ys_0', host('float32', [], [1]));
  g.op('Fill', 'gradients/Fill', ['gradients/Shape', 'gradients/grad_ys_0'], { T: f32, index_type: i32 });
  g.op('Mul', 'gradients/Mean_grad/truediv', ['gradients/Fill', 'gradients/Fill'], { T: f32 });
  g.op('MatMul', 'gradients/MatMul_grad/MatMul_1', ['Input', 'gradients/Mean_grad/truediv'], { T: f32, transpose_a: A.bool(true), transpose_b: A.bool(false) });
  g.const('lr', host('float32', [], [0.1]));
  g.op('ApplyAdam', 'Adam/update_W/ApplyAdam', ['W', 'W', 'W', 'lr', 'lr', 'lr', 'lr', 'lr', 'lr', 'gradients/MatMul_grad/MatMul_1'], { T: f32 });
  g.op('NoOp', 'Adam', ['^Adam/update_W/ApplyAdam']);
  g.op('NoOp', 'init', ['^W/Assign', '^b/Assign']);
  g.op('ScalarSummary', 'loss_summary', ['lr', 'Mean'], { T: f32 });
  return g.build([]);
}

describe("2. a training checkpoint's default outputs are its inference sinks; 6. checkpoint paths", () => {
  const W = [1, 2, 3, 4];
  const B = [0.5, -0.5];

  function writeTraining(dir: string) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.ckpt.meta'), metaGraphBytes(trainingGraph()));
    writeBundle(join(dir, 'model.ckpt'), [{ name: 'W', tensor: host('float32', [2, 2], W) }, { name: 'b', tensor: host('float32', [2], B) }]);
  }

  it('sets aside training, initialising, saving and summary nodes and the losses and metrics that read labels; the logits remain', async () => {
    const dir = join(tmp(), 'train');
    writeTraining(dir);
    const g = await loadGraph(join(dir, 'model.ckpt.meta'));
    expect(g.outputs).toEqual(['add']);
    expect(g.notes![0]).toMatch(/^default outputs are the inference sinks; set aside: \d+ training, initialising, saving or summary nodes; \d+ losses and metrics that read labels \(Placeholder\); 1 nodes computed from constants alone$/);
    // The README's prefix form, resolved by the runner's detection too.
    expect(detectKind(join(dir, 'model.ckpt'))).toBe('graph');
    const out = await runModel(join(dir, 'model.ckpt'), new Map([['Input', host('float32', [1, 2], [1, 1])]]));
    // [1, 1] @ [[1, 2], [3, 4]] + [0.5, -0.5] = [4.5, 5.5]
    expect(out.get('add')).toEqual({ shape: [1, 2], values: [4.5, 5.5] });
    const d = await describeModel(join(dir, 'model.ckpt'));
    expect(d.inputs.map((s) => s.name)).toEqual(['Input']);
    expect(d.unsupported).toEqual([]);
    expect(d.unreached.map((u) => u.op)).toEqual(expect.arrayContaining(['ApplyAdam', 'SoftmaxCrossEntropyWithLogits']));
    expect(formatDescription(d)).toContain('note: inputs the outputs do not read, never fed: Placeholder');
  });

  it('a `checkpoint` file naming a foreign absolute path or a missing prefix falls back to the checkpoint beside it, with a note', async () => {
    for (const named of ['/home/someone/train/run7/model.ckpt-100', 'model.ckpt-100']) {
      const dir = join(tmp(), 'moved');
      writeTraining(dir);
      writeFileSync(join(dir, 'checkpoint'), `model_checkpoint_path: "${named}"\nall_model_checkpoint_paths: "${named}"\n`);
      const g = await loadGraph(dir);
      expect(g.notes![0]).toBe(`${join(dir, 'checkpoint')} names ${join(dir, 'model.ckpt-100')}, which does not exist; read ${join(dir, 'model.ckpt')} beside it instead`);
      expect(g.variables!.get('W')).toEqual(host('float32', [2, 2], W));
    }
  });

  it('a .meta whose outputs read no variable (a tf.cond of constants) runs without a checkpoint index; one that reads a variable names the missing index', async () => {
    const dir = tmp();
    const g = new GraphBuilder();
    g.placeholder('p', 'bool', []);
    g.op('Switch', 'cond/Switch', ['p', 'p'], { T: A.dtype('bool') });
    g.op('Identity', 'cond/switch_t', ['cond/Switch:1'], { T: A.dtype('bool') });
    g.op('Identity', 'cond/switch_f', ['cond/Switch'], { T: A.dtype('bool') });
    g.op('Const', 'cond/one', ['^cond/switch_t'], { value: A.tensor(host('float32', [], [1])), dtype: f32 });
    g.op('Const', 'cond/two', ['^cond/switch_f'], { value: A.tensor(host('float32', [], [2])), dtype: f32 });
    g.op('Merge', 'cond/Merge', ['cond/two', 'cond/one'], { T: f32, N: A.int(2) });
    g.op('VariableV2', 'unused', [], { dtype: f32, shape: A.shape([]) });
    writeFileSync(join(dir, 'cond.meta'), metaGraphBytes(g.build([])));
    const out = await runModel(join(dir, 'cond.meta'), new Map([['p', { dtype: 'bool', shape: [], data: Uint8Array.from([1]) }]]), { outputs: ['cond/Merge'] });
    expect(out.get('cond/Merge')!.values).toEqual([1]);
    const h = new GraphBuilder();
    h.op('VariableV2', 'v', [], { dtype: f32, shape: A.shape([]) });
    h.op('Identity', 'v/read', ['v'], { T: f32 });
    writeFileSync(join(dir, 'var.meta'), metaGraphBytes(h.build([])));
    await expect(loadGraph(join(dir, 'var.meta'))).rejects.toThrow(new RegExp(`var\\.meta: the graph reads 1 variable\\(s\\) \\('v'\\) but ${join(dir, 'var.index').replace(/[.]/g, '\\.')} is missing`));
  });
});

describe('3. Placeholder shapes as TensorFlow reads them, by graph version', () => {
  function oldGraph(producer: number, outputShapes?: number[][]): Uint8Array {
    const g = new GraphBuilder();
    for (const n of ['a', 'b']) g.op('Placeholder', n, [], { dtype: f32, shape: A.shape([]), ...(outputShapes ? { _output_shapes: A.list({ shapes: outputShapes }) } : {}) });
    g.op('Mul', 'c', ['a', 'b'], { T: f32 });
    const graph = g.build(['c']);
    graph.producer = producer;
    return encodeGraphDef(graph);
  }

  it('producer <= 21 (TF 0.x-1.1, the Rust bindings\' multiplication.pb): an empty shape is unknown, so [1,2,3] * [4,5,6] runs', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'mul9.pb'), oldGraph(9));
    const g = await loadGraph(join(dir, 'mul9.pb'));
    expect(g.inputs.map((s) => s.shape)).toEqual([null, null]);
    const out = await runModel(join(dir, 'mul9.pb'), new Map([['a', host('float32', [3], [1, 2, 3])], ['b', host('float32', [3], [4, 5, 6])]]));
    expect(out.get('c')).toEqual({ shape: [3], values: [4, 10, 18] });
    expect(feedShapeWarnings(g.inputs, new Map([['a', host('float32', [3], [1, 2, 3])]]))).toEqual([]);
    // The exact threshold: 21 still legacy, 22 a scalar (TF's constant_op_test); _output_shapes stands in when it has a rank.
    writeFileSync(join(dir, 'mul21.pb'), oldGraph(21, [[-1, 3]]));
    expect((await loadGraph(join(dir, 'mul21.pb'))).inputs[0]!.shape).toEqual([-1, 3]);
    writeFileSync(join(dir, 'mul22.pb'), oldGraph(22));
    const g22 = await loadGraph(join(dir, 'mul22.pb'));
    expect(g22.inputs[0]!.shape).toEqual([]);
    // A scalar-declared input fed [3] runs with a warning naming both shapes.
    expect(feedShapeWarnings(g22.inputs, new Map([['a', host('float32', [3], [1, 2, 3])]]))).toEqual([
      "input 'a' is declared [] but is fed [3]: running it as fed (as TF's C API does; the ops decide)",
    ]);
  });
});

describe('7. inspect describes what run refuses', () => {
  function signaturesOnly(dir: string, withVariables: boolean) {
    const g = new GraphBuilder();
    g.placeholder('w_x', 'float32', [-1]);
    g.op('VariableV2', 'w', [], { dtype: f32, shape: A.shape([1]) });
    g.op('Identity', 'w/read', ['w'], { T: f32 });
    g.op('Mul', 'out_w', ['w_x', 'w/read'], { T: f32 });
    g.op('FrobnicateV2', 'out_b', ['w/read'], { T: f32 });
    const info = (name: string) => ({ name, dtype: 1, tensor_shape: { dim: [{ size: -1 }] } });
    writeSavedModel(dir, g.build([]), {
      meta_info_def: { tags: ['serve'] },
      signature_def: { w: { inputs: { x: info('w_x:0') }, outputs: { output: info('out_w:0') } }, b: { inputs: {}, outputs: { output: info('out_b:0') } } },
    }, withVariables ? [{ name: 'w', tensor: host('float32', [1], [2]) }] : undefined);
  }

  it('a SavedModel without serving_default: every signature, the ops it cannot run, a note; run refuses', async () => {
    const dir = join(tmp(), 'nodefault');
    signaturesOnly(dir, true);
    await expect(loadGraph(dir)).rejects.toThrow(/no signature 'serving_default'; the model has 'b', 'w'/);
    const d = await describeModel(dir);
    expect(d.inputs).toEqual([{ name: 'w_x', dtype: 'float32', shape: [-1], alias: 'x' }]);
    expect(d.outputs).toEqual(['out_b', 'out_w']);
    expect(d.unsupported).toEqual([{ op: 'FrobnicateV2', nodes: ['out_b'] }]);
    expect(d.notes).toEqual(["no signature 'serving_default'; the model has 'b', 'w': run and compare need --signature NAME; shown: every signature's inputs and outputs"]);
    const out = await runModel(dir, new Map([['w_x', host('float32', [2], [1, 3])]]), { signature: 'w' });
    expect(out.get('out_w')!.values).toEqual([2, 6]);
  });

  // qint16 (DT_QINT16), which tf-parity does not compute in: quint8 itself is issue 22 item 8's (another branch).
  it('a graph in a dtype tf-parity cannot compute in (int4 consts): its structure and the ops it cannot run, with why; loading refuses', async () => {
    const dir = tmp();
    const T = tfType('GraphDef');
    const q8 = (name: string) => ({ name, op: 'Const', attr: { dtype: { type: 29 }, value: { tensor: { dtype: 29, tensor_shape: { dim: [{ size: 1 }] }, int_val: [7] } } } });
    const f = (name: string, v: number) => ({ name, op: 'Const', attr: { dtype: { type: 1 }, value: { tensor: { dtype: 1, tensor_shape: {}, float_val: [v] } } } });
    const gd = T.fromObject({
      node: [
        q8('x_quint8_const'), f('x_min', 0), f('x_max', 1), q8('w_quint8_const'), f('w_min', 0), f('w_max', 1),
        { name: 'conv', op: 'QuantizedMatMul', input: ['x_quint8_const', 'w_quint8_const', 'x_min', 'x_max', 'w_min', 'w_max'] },
        { name: 'out', op: 'Dequantize', input: ['conv', 'conv:1', 'conv:2'] },
      ],
      versions: { producer: 21 },
    });
    writeFileSync(join(dir, 'quant.pb'), T.encode(gd).finish());
    await expect(loadGraph(join(dir, 'quant.pb'))).rejects.toThrow(/node 'x_quint8_const': dtype DT_INT4 is not supported/);
    const d = await describeModel(join(dir, 'quant.pb'));
    expect(d.outputs).toEqual(['out']);
    expect(d.unsupported.map((u) => u.op)).toEqual(expect.arrayContaining(['QuantizedMatMul']));
    expect(d.notes).toEqual([expect.stringMatching(/^cannot run: .*quant\.pb: node 'x_quint8_const': dtype DT_INT4 is not supported/)]);
  });

  it('a SavedModel whose variables are missing: described with a note, refused by run', async () => {
    const dir = join(tmp(), 'novars');
    signaturesOnly(dir, false);
    const d = await describeModel(dir, { signature: 'w' });
    expect(d.inputs.map((s) => s.name)).toEqual(['w_x']);
    expect(d.notes).toEqual([expect.stringMatching(/^cannot run: .*saved_model\.pb: the graph reads 1 variable\(s\) \('w'\) but .*variables\.index is missing$/)]);
    expect(d.unsupported).toEqual([{ op: 'VariableV2', nodes: ['w'] }]);
    await expect(loadGraph(dir, { signature: 'w' })).rejects.toThrow(/variables\.index is missing/);
  });
});

describe("10. custom ops that are not TensorFlow's are named as such", () => {
  it("DeePMD's ProdEnvMatA is said to come from a library; TensorFlow's own op without a kernel is not", async () => {
    const { isTensorFlowOp, TF_OP_COUNT } = await import('../../src/graph/tf-op-names.js');
    // tf.raw_ops lists about 1,460 public ops; internal ones start with '_'.
    expect(TF_OP_COUNT).toBeGreaterThan(1400);
    for (const op of ['Conv2D', 'ParseExampleV2', 'QuantizedConv2D', 'StatefulPartitionedCall', 'TensorListReserve', 'Mfcc', '_FusedConv2D']) expect(isTensorFlowOp(op), op).toBe(true);
    for (const op of ['ProdEnvMatA', 'Addons>GeluGrad', 'GatherTree', 'FrobnicateV2']) expect(isTensorFlowOp(op), op).toBe(false);
    const dir = tmp();
    const g = new GraphBuilder();
    g.placeholder('coord', 'float32', [1, 6]);
    g.op('ProdEnvMatA', 'descrpt', ['coord'], { T: f32 });
    g.op('Mfcc', 'mfcc', ['descrpt', 'coord'], {});
    writeFileSync(join(dir, 'deepmd.pb'), encodeGraphDef(g.build(['mfcc'])));
    const err = await loadModel(join(dir, 'deepmd.pb')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as Error).message).toContain('\n  Mfcc: mfcc');
    expect((err as Error).message).toContain('\n  ProdEnvMatA (not a TensorFlow op: registered by a library the graph was built with): descrpt');
    expect(formatDescription(await describeModel(join(dir, 'deepmd.pb')))).toContain('  ProdEnvMatA (not a TensorFlow op: registered by a library the graph was built with): descrpt\n');
  });
});

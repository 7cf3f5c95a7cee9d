import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/core/errors.js';
import type { HostTensor } from '../../../src/core/tensor.js';
import { loadCheckpointGraph, loadSavedModelGraph } from '../../../src/formats/checkpoint/index.js';
import { graphStats } from '../../../src/formats/index.js';
import { findUnsupportedOps } from '../../../src/interpreter/interpreter.js';
import { writeBundle } from '../../fixtures/bundle-writer.js';
import { A, GraphBuilder, expectClose, host, runGraph } from '../../fixtures/graph.js';
import { metaGraphBytes, trackableObjectGraphBytes, writeSavedModel } from '../../fixtures/savedmodel-writer.js';
import { BIAS, KERNEL, SCALE, f32, fn, handle, node, read, tf2FunctionModel } from '../../fixtures/savedmodels.js';

/**
 * Variables whose handles a function body creates itself (VarHandleOp / VariableV2 with a
 * shared_name) instead of receiving them as captured inputs: TF's resource manager finds them
 * by name, so they must read the same checkpoint values the main graph's variables of that
 * name have. Expected values below are computed by hand from the stored tensors.
 */

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'parity-fnvar-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('variables read inside function bodies (TF2 SavedModel)', () => {
  it('resolves handles created in function bodies by shared_name, SavedVariable name and node name', async () => {
    const dir = tmp();
    tf2FunctionModel(dir);
    const g = await loadSavedModelGraph(dir);
    const res = await runGraph(g, { serving_default_x: tf.tensor2d([[1, 1], [1, 0]]) }, g.outputs);
    // Row [1, 1]: x@K = [1+3, 2+4] = [4, 6]; + b = [4.5, 4.5]; * 2 = [9, 9]; + b = [9.5, 7.5].
    // Row [1, 0]: x@K = [1, 2]; + b = [1.5, 0.5]; * 2 = [3, 1]; + b = [3.5, -0.5].
    expectClose(res.get('StatefulPartitionedCall')!.values, [9.5, 7.5, 3.5, -0.5]);
    // Inside the bodies: the values read through each handle.
    expect(res.get('StatefulPartitionedCall/kernel_read')!.values).toEqual(KERNEL);
    expect(res.get('StatefulPartitionedCall/bias_again_read')!.values).toEqual(BIAS);
    expect(res.get('StatefulPartitionedCall/scaled/scale_read')!.values).toEqual([SCALE]);
    const body = g.functions.get('__inference_signature_wrapper_5')!.nodes;
    expect(body.find((n) => n.name === 'kernel_handle')!.op).toBe('Const');
    expect(body.find((n) => n.name === 'kernel_read')!.op).toBe('Identity');
    // The bias is held once (by the main-graph handle); body-only variables under function/node.
    expect([...g.variables!.keys()].sort()).toEqual(['__inference_scale_9/scale', '__inference_signature_wrapper_5/kernel_handle', 'unique_handle']);
    expect(graphStats(g).parameters).toBe(4 + 2 + 1);
    // The uncalled function's handle stays as it was; nothing runs it, so nothing is unsupported.
    expect(g.functions.get('__inference_unused_3')!.nodes[0]!.op).toBe('VarHandleOp');
    expect(findUnsupportedOps(g)).toEqual([]);
  });

  it('a handle that matches no variable names the function, the node and the file', async () => {
    const dir = tmp();
    tf2FunctionModel(dir, { kernelShared: 'dense/kernal' });
    const err = await loadSavedModelGraph(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    const msg = (err as FormatError).message;
    expect(msg).toContain(join(dir, 'saved_model.pb'));
    expect(msg).toContain("function '__inference_signature_wrapper_5', node 'kernel_handle' (VarHandleOp, shared_name 'dense/kernal')");
    expect(msg).toContain(join(dir, 'variables', 'variables.index'));
    // Names it could have meant: the SavedVariable names and the stored keys.
    expect(msg).toMatch(/nearest known names 'dense\/kernel'/);
    expect(msg.split('\n')).toHaveLength(1);
    expect((err as FormatError).node).toBe('__inference_signature_wrapper_5/kernel_handle');
  });

  it('without variables/ a body that reads a variable is refused, naming the function and node', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('PartitionedCall', 'call', ['x'], { f: A.func('f'), Tin: A.list({ dtypes: ['float32'] }), Tout: A.list({ dtypes: ['float32'] }) });
    const graph = g.build([]);
    graph.functions.set('f', fn('f', [{ name: 'a', dtype: 'float32' }], ['o'], [handle('w', 'w', [2]), read('wr', 'w:resource:0'), node('o', 'Mul', ['a', 'wr:value:0'], { T: f32 })], { o: 'o:z:0' }));
    const dir = tmp();
    const outputs = { y: { name: 'call:0', dtype: 1 } };
    writeSavedModel(dir, graph, { meta_info_def: { tags: ['serve'] }, signature_def: { serving_default: { inputs: { x: { name: 'x:0', dtype: 1 } }, outputs } } });
    await expect(loadSavedModelGraph(dir)).rejects.toThrow(/saved_model\.pb: function 'f', node 'w' \(VarHandleOp\) reads a variable, but the model has no checkpoint \(variables\/variables\.index is missing\)/);
    // The same body with the variable stored: 3 * [1, -2] = [3, -6].
    writeBundle(join(dir, 'variables', 'variables'), [{ name: 'w', tensor: host('float32', [2], [3, 3]) }]);
    const lg = await loadSavedModelGraph(dir);
    expect((await runGraph(lg, { x: tf.tensor1d([1, -2]) }, lg.outputs)).get('call')!.values).toEqual([3, -6]);
  });

  it('checks the body handle declared shape against the stored value', async () => {
    const dir = tmp();
    tf2FunctionModel(dir);
    const g = await loadSavedModelGraph(dir);
    expect(g.functions.get('__inference_scale_9')!.nodes[0]!.op).toBe('Const');
    // Same model, but the checkpoint's kernel is [4]: the body's declared [2, 2] does not match.
    const dir2 = tmp();
    tf2FunctionModel(dir2);
    const tog = trackableObjectGraphBytes([
      { children: [{ node_id: 1, local_name: 'scale' }, { node_id: 2, local_name: 'layer_with_weights-0' }] },
      { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 's' }] },
      { children: [{ node_id: 3, local_name: 'bias' }, { node_id: 4, local_name: 'kernel' }] },
      { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'b' }] },
      { attributes: [{ name: 'VARIABLE_VALUE', checkpoint_key: 'k' }] },
    ]);
    writeBundle(join(dir2, 'variables', 'variables'), [
      { name: '_CHECKPOINTABLE_OBJECT_GRAPH', tensor: { dtype: 'string', shape: [], data: [tog] } },
      { name: 'k', tensor: host('float32', [4], KERNEL) },
      { name: 'b', tensor: host('float32', [2], BIAS) },
      { name: 's', tensor: host('float32', [], [SCALE]) },
    ]);
    await expect(loadSavedModelGraph(dir2)).rejects.toThrow(/variable 'kernel_handle' of function '__inference_signature_wrapper_5' has shape \[2,2\] in the graph, but checkpoint tensor 'k' has \[4\]/);
  });
});

describe('variables read inside function bodies (TF1 checkpoint)', () => {
  it("a body's VariableV2 with the shared_name of a main-graph variable reads what the Saver restores into it", async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [-1, 2]);
    g.op('VariableV2', 'dense/kernel', [], { dtype: f32, shape: A.shape([2, 2]), container: A.str(''), shared_name: A.str('') });
    g.op('PartitionedCall', 'call', ['x'], { f: A.func('body'), Tin: A.list({ dtypes: ['float32'] }), Tout: A.list({ dtypes: ['float32'] }) });
    g.op('Identity', 'out', ['call'], { T: f32 });
    const strings = (...s: string[]): HostTensor => ({ dtype: 'string', shape: [s.length], data: s.map((x) => new TextEncoder().encode(x)) });
    // The Saver stores the kernel under another name: only its mapping links the two.
    g.const('save/Const', strings('model'));
    g.const('save/RestoreV2/tensor_names', strings('my_kernel', 'b'));
    g.const('save/RestoreV2/shape_and_slices', strings('', ''));
    g.op('RestoreV2', 'save/RestoreV2', ['save/Const', 'save/RestoreV2/tensor_names', 'save/RestoreV2/shape_and_slices'], { dtypes: A.list({ dtypes: ['float32', 'float32'] }) });
    g.op('Assign', 'save/Assign', ['dense/kernel', 'save/RestoreV2'], { T: f32 });
    const graph = g.build([]);
    graph.functions.set('body', fn('body', [{ name: 'a', dtype: 'float32' }], ['o'], [
      node('k', 'VariableV2', [], { dtype: f32, shape: A.shape([2, 2]), container: A.str(''), shared_name: A.str('dense/kernel') }),
      node('k_read', 'Identity', ['k:ref:0'], { T: f32 }),
      node('mm', 'MatMul', ['a', 'k_read:output:0'], { T: f32, transpose_a: A.bool(false), transpose_b: A.bool(false) }),
      // A resource variable only the checkpoint names: found by its own key.
      handle('bias', 'b', [2]),
      read('bias_read', 'bias:resource:0'),
      node('o', 'AddV2', ['mm:product:0', 'bias_read:value:0'], { T: f32 }),
    ], { o: 'o:z:0' }));
    const dir = tmp();
    writeBundle(join(dir, 'ck'), [
      { name: 'my_kernel', tensor: host('float32', [2, 2], KERNEL) },
      { name: 'b', tensor: host('float32', [2], [10, 20]) },
    ]);
    writeFileSync(join(dir, 'ck.meta'), metaGraphBytes(graph, { saver_def: { restore_op_name: 'save/restore_all', version: 2 } }));
    const lg = await loadCheckpointGraph(join(dir, 'ck'));
    expect(lg.outputs).toEqual(['out']);
    const res = await runGraph(lg, { x: tf.tensor2d([[1, -1]]) }, ['out']);
    // [1, -1] @ [[1, 2], [3, 4]] = [1 - 3, 2 - 4] = [-2, -2]; + [10, 20] = [8, 18].
    expect(res.get('out')!.values).toEqual([8, 18]);
    expect(res.get('call/k_read')!.values).toEqual(KERNEL);
    expect([...lg.variables!.keys()].sort()).toEqual(['body/bias', 'dense/kernel']);
  });
});

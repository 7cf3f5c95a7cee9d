import { describe, expect, it } from 'vitest';
import { commonScope, nodeLabel } from '../../src/report/html.js';

describe('HTML report: long TF names', () => {
  it('the common scope is the longest one most names share, never a bare slash', () => {
    const names = ['input_1', 'StatefulPartitionedCall/model_1/conv2d_1/Relu', 'StatefulPartitionedCall/model_1/add_1/add', 'StatefulPartitionedCall/model_1/predictions/Softmax', 'Identity'];
    expect(commonScope(names)).toBe('StatefulPartitionedCall/model_1/');
    // ONNX names all start with '/': no scope.
    expect(commonScope(['/conv1/Conv_output_0', '/bn1/BatchNormalization_output_0', 'probs'])).toBe('');
    expect(commonScope(['conv1/Relu', 'bn1/FusedBatchNormV3', 'dw1/Relu6'])).toBe('');
    // Under 60% of the names: no scope.
    expect(commonScope(['a/b/x', 'a/b/y', 'c', 'd', 'e'])).toBe('');
  });

  it('a node label leaves the scope out and cuts what is still long in the middle, keeping the layer and the op', () => {
    const scope = 'StatefulPartitionedCall/model_1/';
    expect(nodeLabel(scope + 'block1_conv2_act/Relu', scope)).toBe('block1_conv2_act/Relu');
    // 45 characters after the scope: 20 first, an ellipsis, 19 last.
    expect(nodeLabel(scope + 'separable_conv2d_2/separable_conv2d/depthwise', scope)).toBe('separable_conv2d_2/s…le_conv2d/depthwise');
    // The scope alone is a name of its own.
    expect(nodeLabel('input_1', scope)).toBe('input_1');
  });
});

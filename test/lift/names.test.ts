import { describe, expect, it } from 'vitest';
import { NameSet, scopeName } from '../../src/lift/names.js';

describe('Keras layer names from TF scopes', () => {
  it.each([
    ['model_1/conv2d_5/BiasAdd', 'conv2d_5'],
    ['model/conv2d/Conv2D', 'conv2d'],
    ['StatefulPartitionedCall/sequential_1/batch_normalization_2/FusedBatchNormV3/mul', 'batch_normalization_2'],
    ['conv_pw_13_bn/batchnorm_1/add_1', 'conv_pw_13_bn'],
    ['conv_dw_1_relu/clip_by_value/Minimum', 'conv_dw_1_relu'],
    ['model_1/model/add_1/ArithmeticOptimizer/AddOpsRewrite_Leaf_1_add', 'add_1'],
    ['StatefulPartitionedCall/model_1/separable_conv2d_1/separable_conv2d/depthwise', 'separable_conv2d_1'],
    ['model/separable_conv2d/separable_conv2d/depthwise', 'separable_conv2d'],
    // The default layer name is also the op scope TF opens: the layer's own BiasAdd/Relu sit in the layer's scope.
    ['model/separable_conv2d/BiasAdd', 'separable_conv2d'],
    ['model/separable_conv2d/Relu', 'separable_conv2d'],
    ['model/block1_sepconv1/separable_conv2d/depthwise', 'block1_sepconv1'],
    ['Conv2D_5', 'Conv2D_5'],
    ['input:0', 'input'],
  ])('%s -> %s', (node, name) => expect(scopeName(node)).toBe(name));

  it('unique names: taken ones get _1, _2', () => {
    const n = new NameSet();
    expect([n.take('dense'), n.take('dense'), n.take('dense'), n.take('dense_1')]).toEqual(['dense', 'dense_1', 'dense_2', 'dense_1_1']);
  });
});

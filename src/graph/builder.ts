import type { DType } from '../core/dtype.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';
import { A } from './attrs.js';
import type { Attr, Graph, GraphNode } from './ir.js';

/** A host tensor from a flat list of values and a shape. */
export function host(dtype: DType, shape: number[], values: ArrayLike<number> | bigint[] | boolean[]): HostTensor {
  const vals = Array.from(values as ArrayLike<number | bigint | boolean>);
  switch (dtype) {
    case 'float32': case 'float16': case 'bfloat16': return { dtype, shape, data: Float32Array.from(vals as number[]) };
    case 'float64': return { dtype, shape, data: Float64Array.from(vals as number[]) };
    case 'int32': return { dtype, shape, data: Int32Array.from(vals as number[]) };
    case 'int64': return { dtype, shape, data: BigInt64Array.from(vals.map((v) => BigInt(v as number))) };
    case 'int8': return { dtype, shape, data: Int8Array.from(vals as number[]) };
    case 'int16': return { dtype, shape, data: Int16Array.from(vals as number[]) };
    case 'uint8': return { dtype, shape, data: Uint8Array.from(vals as number[]) };
    case 'uint16': return { dtype, shape, data: Uint16Array.from(vals as number[]) };
    case 'uint32': return { dtype, shape, data: Uint32Array.from(vals as number[]) };
    case 'bool': return { dtype, shape, data: Uint8Array.from(vals.map((b) => (b ? 1 : 0))) };
    default: throw new Error(`host(): dtype ${dtype} is not built from numbers`);
  }
}

/**
 * Builds a Graph IR in code (tests, example models):
 *   const g = new GraphBuilder();
 *   const x = g.placeholder('x', 'float32', [1, 4]);
 *   const w = g.const('w', host('float32', [4, 2], [...]));
 *   const y = g.op('MatMul', 'y', [x, w], { transpose_a: A.bool(false) });
 *   g.build([y])
 */
export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  private readonly specs: TensorSpec[] = [];

  placeholder(name: string, dtype: DType, shape: number[] | null): string {
    this.nodes.push({ name, op: 'Placeholder', inputs: [], attrs: { dtype: A.dtype(dtype), shape: A.shape(shape) } });
    this.specs.push({ name, dtype, shape });
    return name;
  }

  const(name: string, value: HostTensor): string {
    this.nodes.push({ name, op: 'Const', inputs: [], attrs: { value: A.tensor(value), dtype: A.dtype(value.dtype) } });
    return name;
  }

  op(op: string, name: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    this.nodes.push({ name, op, inputs, attrs });
    return name;
  }

  build(outputs: string[], path = 'built-graph'): Graph {
    return { nodes: this.nodes, functions: new Map(), source: { path, format: 'pb' }, inputs: this.specs, outputs };
  }
}

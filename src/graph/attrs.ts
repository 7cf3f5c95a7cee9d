import type { DType } from '../core/dtype.js';
import { ExecutionError } from '../core/errors.js';
import type { HostTensor, Shape } from '../core/tensor.js';
import type { Attr, FuncRef, GraphNode } from './ir.js';

/** Typed attribute accessors. A missing attr returns the default (TF's op-def default). */

function bad(node: GraphNode, name: string, want: string, got: Attr): never {
  throw new ExecutionError(`node '${node.name}' (${node.op}): attribute '${name}' should be ${want}, found ${got.type}`, {
    node: node.name,
  });
}

function need<T>(node: GraphNode, name: string, def: T | undefined, want: string): T {
  if (def === undefined) {
    throw new ExecutionError(`node '${node.name}' (${node.op}): required attribute '${name}' (${want}) is missing`, { node: node.name });
  }
  return def;
}

export function attrInt(node: GraphNode, name: string, def?: number): number {
  const a = node.attrs[name];
  if (!a) return need(node, name, def, 'int');
  if (a.type === 'int') return a.value;
  if (a.type === 'float' && Number.isInteger(a.value)) return a.value;
  return bad(node, name, 'int', a);
}

export function attrFloat(node: GraphNode, name: string, def?: number): number {
  const a = node.attrs[name];
  if (!a) return need(node, name, def, 'float');
  if (a.type === 'float' || a.type === 'int') return a.value;
  return bad(node, name, 'float', a);
}

export function attrBool(node: GraphNode, name: string, def?: boolean): boolean {
  const a = node.attrs[name];
  if (!a) return need(node, name, def, 'bool');
  if (a.type === 'bool') return a.value;
  return bad(node, name, 'bool', a);
}

export function attrString(node: GraphNode, name: string, def?: string): string {
  const a = node.attrs[name];
  if (!a) return need(node, name, def, 'string');
  if (a.type === 'string') return a.value;
  return bad(node, name, 'string', a);
}

export function attrDType(node: GraphNode, name: string, def?: DType): DType {
  const a = node.attrs[name];
  if (!a) return need(node, name, def, 'type');
  if (a.type === 'dtype') return a.value;
  return bad(node, name, 'type', a);
}

export function attrTensor(node: GraphNode, name: string): HostTensor {
  const a = node.attrs[name];
  if (!a) return need<HostTensor>(node, name, undefined, 'tensor');
  if (a.type === 'tensor') return a.value;
  return bad(node, name, 'tensor', a);
}

export function attrFunc(node: GraphNode, name: string): FuncRef {
  const a = node.attrs[name];
  if (!a) return need<FuncRef>(node, name, undefined, 'func');
  if (a.type === 'func') return a.value;
  return bad(node, name, 'func', a);
}

function list(node: GraphNode, name: string): Extract<Attr, { type: 'list' }> | undefined {
  const a = node.attrs[name];
  if (!a) return undefined;
  if (a.type === 'list') return a;
  return bad(node, name, 'list', a);
}

export function attrInts(node: GraphNode, name: string, def?: number[]): number[] {
  const l = list(node, name);
  return l ? l.ints : need(node, name, def, 'list(int)');
}

export function attrStrings(node: GraphNode, name: string, def?: string[]): string[] {
  const l = list(node, name);
  return l ? l.strings : need(node, name, def, 'list(string)');
}

export function hasAttr(node: GraphNode, name: string): boolean {
  return node.attrs[name] !== undefined;
}

/** Convenience constructors, used by fixture builders and format readers. */
export const A = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  bool: (value: boolean): Attr => ({ type: 'bool', value }),
  str: (value: string): Attr => ({ type: 'string', value, bytes: new TextEncoder().encode(value) }),
  dtype: (value: DType): Attr => ({ type: 'dtype', value }),
  shape: (value: Shape): Attr => ({ type: 'shape', value }),
  tensor: (value: HostTensor): Attr => ({ type: 'tensor', value }),
  func: (name: string, attrs: Record<string, Attr> = {}): Attr => ({ type: 'func', value: { name, attrs } }),
  list: (p: Partial<Omit<Extract<Attr, { type: 'list' }>, 'type'>>): Attr => ({
    type: 'list',
    ints: p.ints ?? [],
    floats: p.floats ?? [],
    strings: p.strings ?? [],
    bools: p.bools ?? [],
    dtypes: p.dtypes ?? [],
    shapes: p.shapes ?? [],
    tensors: p.tensors ?? [],
    funcs: p.funcs ?? [],
  }),
  ints: (ints: number[]): Attr => A.list({ ints }),
};

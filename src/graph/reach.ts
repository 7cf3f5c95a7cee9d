import type { Graph, GraphNode } from './ir.js';

/**
 * Which library functions a graph runs, and which nodes of each body: a function runs when a
 * node calls it (as its op or through a function attribute: `f`, If/While branches, Case's
 * list), and inside a body only the nodes its return values need run (as in the interpreter).
 */

/** Functions a node runs: its op when that is a library function, and its function attributes. */
export function calledFunctions(n: GraphNode, graph: Graph): string[] {
  const out: string[] = [];
  if (graph.functions.has(n.op)) out.push(n.op);
  for (const a of Object.values(n.attrs)) {
    if (a.type === 'func') out.push(a.value.name);
    else if (a.type === 'list') for (const f of a.funcs) out.push(f.name);
  }
  return out;
}

/** Node of a function-body reference: `node:out:0` -> `node`, `^node` -> `node`, an argument as is. */
export function bodyNode(ref: string): string {
  return (ref.startsWith('^') ? ref.slice(1) : ref).split(':')[0]!;
}

/** The functions `roots` run (transitively), each with the names of the body nodes that run. */
export function neededFunctionNodes(graph: Graph, roots: Iterable<GraphNode>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const queue: string[] = [];
  for (const n of roots) queue.push(...calledFunctions(n, graph));
  while (queue.length) {
    const name = queue.pop()!;
    const fn = graph.functions.get(name);
    if (!fn || out.has(name)) continue;
    const byName = new Map(fn.nodes.map((n) => [n.name, n]));
    const seen = new Set<string>();
    out.set(name, seen);
    const stack = Object.values(fn.ret).map(bodyNode);
    while (stack.length) {
      const m = stack.pop()!;
      const n = byName.get(m);
      if (!n || seen.has(m)) continue;
      seen.add(m);
      for (const r of n.inputs) stack.push(bodyNode(r));
      queue.push(...calledFunctions(n, graph));
    }
  }
  return out;
}

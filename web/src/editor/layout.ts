// Auto-layout with dagre: left-to-right ranks, using measured node sizes when React Flow has them.
import dagre from "@dagrejs/dagre";
import type { WfEdge, WfNode } from "./graph";

const DEFAULT_W = 220;
const DEFAULT_H = 110;

export function autoLayout(nodes: WfNode[], edges: WfEdge[]): WfNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    g.setNode(n.id, {
      width: n.measured?.width ?? n.initialWidth ?? DEFAULT_W,
      height: n.measured?.height ?? n.initialHeight ?? DEFAULT_H,
    });
  }
  for (const e of edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    if (!p) return n;
    return { ...n, position: { x: p.x - p.width / 2, y: p.y - p.height / 2 } };
  });
}

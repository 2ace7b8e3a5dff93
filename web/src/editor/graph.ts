// The stored workflow graph <-> React Flow nodes and edges, ports, type rules and local checks.
// Mirrors src/nexus/engine/spec.py (shapes) and src/nexus/engine/validation.py (rules).
import { Position, type Edge, type Node } from "@xyflow/react";
import type { Schemas } from "../api/client";

export type PortType = "text" | "json" | "number" | "boolean" | "list" | "any";
export interface Port {
  name: string;
  type: PortType;
  required?: boolean;
}
export interface NodePolicy {
  timeout_s?: number | null;
  retries?: number;
  backoff_s?: number;
  on_error?: "fail" | "continue" | "error_port";
  default?: unknown;
}
export interface NodeSpec {
  id: string;
  type: string;
  name?: string;
  position?: { x: number; y: number };
  properties?: Record<string, unknown>;
  inputs?: Port[] | null;
  outputs?: Port[] | null;
  policy?: NodePolicy;
}
export interface EdgeSpec {
  id: string;
  source: { node: string; port: string };
  target: { node: string; port: string };
}
export type Workflow = Schemas["WorkflowPublic"];
export interface NodeType {
  type: string;
  description: string;
  properties_schema: JsonSchema;
  inputs: Port[];
  outputs: Port[];
  dynamic_inputs: boolean;
}
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  format?: string;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
  additionalProperties?: boolean | JsonSchema;
  [key: string]: unknown;
}

/** What one canvas node carries: its stored spec (minus position, which React Flow owns). */
export interface WfNodeData extends Record<string, unknown> {
  spec: NodeSpec;
}
export type WfNode = Node<WfNodeData, "wf">;
export type WfEdge = Edge;

export const ERROR_PORT = "error";
/** The handle a merge node offers for one more input (it accepts any port name). */
export const NEW_INPUT_HANDLE = "__new_input";
export const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** `any` matches everything, `json` accepts every value, otherwise types must be equal. */
export function portsCompatible(source: string, target: string): boolean {
  return source === target || source === "any" || target === "any" || target === "json";
}

export function inputPorts(spec: NodeSpec, nodeType: NodeType | undefined): Port[] {
  if (spec.inputs) return spec.inputs;
  return nodeType?.inputs ?? [];
}

export function outputPorts(spec: NodeSpec, nodeType: NodeType | undefined): Port[] {
  let outputs: Port[];
  if (spec.outputs) outputs = spec.outputs;
  else if (spec.type === "switch") {
    const cases = spec.properties?.cases;
    const names = Array.isArray(cases)
      ? cases.flatMap((c) =>
          c && typeof c === "object" && typeof (c as { port?: unknown }).port === "string"
            ? [(c as { port: string }).port]
            : [],
        )
      : [];
    outputs = [...names.map((name) => ({ name, type: "any" as PortType })), { name: "default", type: "any" }];
  } else outputs = nodeType?.outputs ?? [];
  if (spec.policy?.on_error === "error_port" && !outputs.some((p) => p.name === ERROR_PORT)) {
    outputs = [...outputs, { name: ERROR_PORT, type: "json" }];
  }
  return outputs;
}

export function edgeId(source: string, sourcePort: string, target: string, targetPort: string) {
  return `${source}.${sourcePort}-${target}.${targetPort}`;
}

export function toFlow(workflow: { nodes?: unknown[]; edges?: unknown[] }): {
  nodes: WfNode[];
  edges: WfEdge[];
} {
  const specs = (workflow.nodes ?? []) as NodeSpec[];
  const nodes: WfNode[] = specs.map((spec) => {
    const { position, ...rest } = spec;
    return {
      id: spec.id,
      type: "wf",
      position: { x: position?.x ?? 0, y: position?.y ?? 0 },
      data: { spec: rest },
    };
  });
  const edges: WfEdge[] = ((workflow.edges ?? []) as EdgeSpec[]).map((e) => ({
    id: e.id,
    source: e.source.node,
    sourceHandle: e.source.port,
    target: e.target.node,
    targetHandle: e.target.port,
  }));
  return { nodes, edges };
}

/** Do all nodes sit on the same spot (a workflow written by hand or imported)? */
export function needsLayout(nodes: WfNode[]): boolean {
  if (nodes.length < 2) return false;
  const { x, y } = nodes[0].position;
  return nodes.every((n) => n.position.x === x && n.position.y === y);
}

function round(v: number) {
  return Math.round(v * 10) / 10;
}

export function toSpecNodes(nodes: WfNode[]): NodeSpec[] {
  return nodes.map((n) => ({
    ...n.data.spec,
    position: { x: round(n.position.x), y: round(n.position.y) },
  }));
}

export function toSpecEdges(edges: WfEdge[]): EdgeSpec[] {
  return edges.map((e) => ({
    id: e.id,
    source: { node: e.source, port: e.sourceHandle ?? "output" },
    target: { node: e.target, port: e.targetHandle ?? "input" },
  }));
}

/** A fresh node id from the type name: `llm`, `llm_2`, ... */
export function freshId(base: string, taken: Set<string>): string {
  let stem = base.replace(/[^A-Za-z0-9_-]/g, "_");
  if (!/^[A-Za-z_]/.test(stem)) stem = `n_${stem}`;
  stem = stem.slice(0, 56);
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i++) {
    const candidate = `${stem}_${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** Initial properties: each property's schema default, and required strings empty. */
export function defaultProperties(nodeType: NodeType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = nodeType.properties_schema.properties ?? {};
  for (const [key, schema] of Object.entries(props)) {
    if (schema.default !== undefined) out[key] = schema.default;
    else if (Array.isArray(schema.enum) && nodeType.properties_schema.required?.includes(key)) {
      out[key] = schema.enum[0];
    }
  }
  return out;
}

export interface Issue {
  node: string | null;
  field: string;
  message: string;
}

export interface ConnectionCheck {
  ok: boolean;
  reason?: string;
}

/** Can source.port feed target.port? The reason when not (shown to the user). */
export function checkConnection(
  nodeById: Map<string, WfNode>,
  types: Map<string, NodeType>,
  edges: WfEdge[],
  c: { source: string | null; sourceHandle?: string | null; target: string | null; targetHandle?: string | null },
): ConnectionCheck {
  if (!c.source || !c.target) return { ok: false, reason: "Connect an output port to an input port." };
  if (c.source === c.target) return { ok: false, reason: "A node cannot feed itself; use a loop node." };
  const src = nodeById.get(c.source);
  const dst = nodeById.get(c.target);
  if (!src || !dst) return { ok: false, reason: "Unknown node." };
  const srcType = types.get(src.data.spec.type);
  const dstType = types.get(dst.data.spec.type);
  const outPort = outputPorts(src.data.spec, srcType).find((p) => p.name === c.sourceHandle);
  if (!outPort) return { ok: false, reason: `${c.source} has no output port ${c.sourceHandle}.` };
  let targetType: string = "any";
  if (c.targetHandle !== NEW_INPUT_HANDLE) {
    const inPort = dynamicInputs(dst.data.spec, dstType)
      ? { name: c.targetHandle ?? "", type: "any" as PortType }
      : inputPorts(dst.data.spec, dstType).find((p) => p.name === c.targetHandle);
    if (!inPort) return { ok: false, reason: `${c.target} has no input port ${c.targetHandle}.` };
    targetType = inPort.type;
  }
  if (!portsCompatible(outPort.type, targetType)) {
    return { ok: false, reason: `${outPort.type} → ${targetType}: incompatible port types` };
  }
  if (
    c.targetHandle !== NEW_INPUT_HANDLE &&
    edges.some((e) => e.target === c.target && e.targetHandle === c.targetHandle)
  ) {
    return {
      ok: false,
      reason: `Input port ${c.targetHandle} of ${c.target} already has an incoming edge; join branches with a merge node.`,
    };
  }
  if (reaches(edges, c.target, c.source)) {
    return { ok: false, reason: "This edge would make a cycle; iterate with a loop node instead." };
  }
  return { ok: true };
}

export function dynamicInputs(spec: NodeSpec, nodeType: NodeType | undefined): boolean {
  return !spec.inputs && !!nodeType?.dynamic_inputs;
}

/** Is `to` reachable from `from` along edges? */
function reaches(edges: WfEdge[], from: string, to: string): boolean {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source);
    if (list) list.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const seen = new Set<string>([from]);
  const stack = [from];
  while (stack.length) {
    const n = stack.pop()!;
    if (n === to) return true;
    for (const m of out.get(n) ?? []) {
      if (!seen.has(m)) {
        seen.add(m);
        stack.push(m);
      }
    }
  }
  return false;
}

function typeOk(value: unknown, schema: JsonSchema): boolean {
  const t = schema.type;
  if (!t || typeof value === "string") return true; // a templated string stands in for any type
  const types = Array.isArray(t) ? t : [t];
  return types.some((ty) => {
    switch (ty) {
      case "number":
        return typeof value === "number";
      case "integer":
        return typeof value === "number" && Number.isInteger(value);
      case "boolean":
        return typeof value === "boolean";
      case "array":
        return Array.isArray(value);
      case "object":
        return value !== null && typeof value === "object" && !Array.isArray(value);
      case "null":
        return value === null;
      default:
        return true;
    }
  });
}

/** The checks the browser can make without the server (the server's compile is the authority
 * and runs on save): unknown types, required/typed properties, edges, required inputs, cycles. */
export function validateLocally(nodes: WfNode[], edges: WfEdge[], types: Map<string, NodeType>): Issue[] {
  const issues: Issue[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) {
    const spec = n.data.spec;
    const nodeType = types.get(spec.type);
    if (!nodeType) {
      issues.push({ node: n.id, field: "type", message: `Unknown node type '${spec.type}'.` });
      continue;
    }
    const schema = nodeType.properties_schema;
    const props = spec.properties ?? {};
    for (const key of schema.required ?? []) {
      const v = props[key];
      if (v === undefined || v === "") {
        issues.push({ node: n.id, field: `properties.${key}`, message: `'${key}' is a required property` });
      }
    }
    for (const [key, value] of Object.entries(props)) {
      const ps = schema.properties?.[key];
      if (!ps) {
        if (schema.additionalProperties === false) {
          issues.push({ node: n.id, field: `properties.${key}`, message: `Unknown property '${key}'.` });
        }
        continue;
      }
      if (!typeOk(value, ps)) {
        issues.push({ node: n.id, field: `properties.${key}`, message: `'${key}' should be ${String(ps.type)}.` });
      } else if (Array.isArray(ps.enum) && !ps.enum.includes(value)) {
        issues.push({ node: n.id, field: `properties.${key}`, message: `'${key}' must be one of ${ps.enum.join(", ")}.` });
      }
    }
  }
  const connected = new Set<string>();
  for (const e of edges) {
    const check = checkConnection(byId, types, [], e);
    if (!check.ok) {
      issues.push({ node: e.target, field: `edges.${e.id}`, message: check.reason ?? "Invalid edge." });
      continue;
    }
    const key = `${e.target}\u0000${e.targetHandle}`;
    if (connected.has(key)) {
      issues.push({
        node: e.target,
        field: `edges.${e.id}.target.port`,
        message: `Input port '${e.targetHandle}' of '${e.target}' already has an incoming edge; join branches with a merge node.`,
      });
    }
    connected.add(key);
  }
  for (const n of nodes) {
    const nodeType = types.get(n.data.spec.type);
    if (!nodeType || dynamicInputs(n.data.spec, nodeType)) continue;
    for (const p of inputPorts(n.data.spec, nodeType)) {
      if (p.required && !connected.has(`${n.id}\u0000${p.name}`)) {
        issues.push({ node: n.id, field: `inputs.${p.name}`, message: `Required input '${p.name}' has no edge.` });
      }
    }
    if (n.data.spec.type === "output" && !edges.some((e) => e.target === n.id) && !("value" in (n.data.spec.properties ?? {}))) {
      issues.push({ node: n.id, field: "inputs.input", message: "Output node is unreachable: no edge reaches it." });
    }
  }
  // cycles (Kahn)
  const indeg = new Map(nodes.map((n) => [n.id, 0]));
  const out = new Map<string, string[]>();
  for (const e of edges) {
    if (!byId.has(e.source) || !byId.has(e.target)) continue;
    indeg.set(e.target, (indeg.get(e.target) ?? 0) + 1);
    (out.get(e.source) ?? out.set(e.source, []).get(e.source)!).push(e.target);
  }
  const queue = [...indeg].filter(([, d]) => d === 0).map(([id]) => id);
  let seen = 0;
  while (queue.length) {
    const id = queue.pop()!;
    seen++;
    for (const m of out.get(id) ?? []) {
      const d = (indeg.get(m) ?? 0) - 1;
      indeg.set(m, d);
      if (d === 0) queue.push(m);
    }
  }
  if (seen < nodes.length) {
    for (const [id, d] of indeg) {
      if (d > 0) issues.push({ node: id, field: "edges", message: "Node is on a cycle; iterate with a loop node instead." });
    }
  }
  return issues;
}

/** The API's validation problems (details of an `invalid_input` error) as issues. */
export function issuesFromDetails(details: unknown): Issue[] {
  if (!Array.isArray(details)) return [];
  return details.flatMap((d) => {
    if (!d || typeof d !== "object") return [];
    const rec = d as { node?: unknown; field?: unknown; message?: unknown };
    return [
      {
        node: typeof rec.node === "string" ? rec.node : null,
        field: typeof rec.field === "string" ? rec.field : "",
        message: typeof rec.message === "string" ? rec.message : String(rec.message),
      },
    ];
  });
}

/** `nodes[3].properties.x` (a pydantic path) names node 3: map it to that node's id. */
/** The server's validation problems (a saved draft's, or a validate report's) as issues. */
export function problemsAsIssues(
  problems: { node?: string | null; field?: string | null; message: string }[] | undefined,
): Issue[] {
  return (problems ?? []).map((p) => ({ node: p.node ?? null, field: p.field ?? "", message: p.message }));
}

export function attachNodeIds(issues: Issue[], nodes: { id: string }[]): Issue[] {
  return issues.map((i) => {
    if (i.node) return i;
    const m = /^nodes\[(\d+)\]/.exec(i.field);
    const node = m ? nodes[Number(m[1])] : undefined;
    return node ? { ...i, node: node.id } : i;
  });
}

// Geometry of a node as editor.css draws it (fixed 220 px width, 20 px per port row), so that a
// large graph can be culled before its nodes were ever measured: React Flow renders every node
// without handle positions once to measure it, which for 5,000 nodes is what makes it slow.
export const NODE_WIDTH = 220;
const HEAD = 38;
const NAMED = 15;
const ROW = 20;
const FIRST_HANDLE_Y = 36.5; // top of the first handle (measured in chromium: 51.5 px on a named node)
const HANDLE = 10;

export function estimateGeometry(
  spec: NodeSpec,
  nodeType: NodeType | undefined,
  dynamicCount: number,
): { width: number; height: number; handles: NonNullable<WfNode["handles"]> } {
  const ins = dynamicInputs(spec, nodeType) ? null : inputPorts(spec, nodeType);
  const outs = outputPorts(spec, nodeType);
  const inRows = ins === null ? dynamicCount + 1 : ins.length;
  const rows = Math.max(inRows, outs.length);
  const top = FIRST_HANDLE_Y + (spec.name ? NAMED : 0);
  const handles: NonNullable<WfNode["handles"]> = [];
  (ins ?? []).forEach((p, i) =>
    handles.push({ id: p.name, type: "target", position: Position.Left, x: -HANDLE / 2 + 1, y: top + i * ROW, width: HANDLE, height: HANDLE }),
  );
  outs.forEach((p, i) =>
    handles.push({ id: p.name, type: "source", position: Position.Right, x: NODE_WIDTH - HANDLE / 2 - 1, y: top + i * ROW, width: HANDLE, height: HANDLE }),
  );
  return { width: NODE_WIDTH, height: HEAD + (spec.name ? NAMED : 0) + rows * ROW, handles };
}

/** Give every node its estimated size and handle positions (for graphs too large to measure). */
export function withEstimates(nodes: WfNode[], edges: WfEdge[], types: Map<string, NodeType>): WfNode[] {
  const dynamic = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!e.targetHandle) continue;
    const set = dynamic.get(e.target) ?? dynamic.set(e.target, new Set()).get(e.target)!;
    set.add(e.targetHandle);
  }
  // `measured` too: when a culled node is first drawn and its size is the estimate, React Flow then
  // reports no size change, so drawing nodes that scroll into view does not re-run the editor's
  // state update over every node of the graph (a node of another size still reports it).
  return nodes.map((n) => {
    const g = estimateGeometry(n.data.spec, types.get(n.data.spec.type), dynamic.get(n.id)?.size ?? 0);
    return {
      ...n,
      initialWidth: g.width,
      initialHeight: g.height,
      handles: g.handles,
      measured: n.measured ?? { width: g.width, height: g.height },
    };
  });
}

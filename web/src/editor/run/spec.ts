// Reading what the run panel needs out of the workflow JSON the editor hands over (a
// WorkflowPublic or a bare spec): nodes, edges, and the workflow's inputs.

export interface SpecNode {
  id: string;
  type: string;
  name: string;
  properties: Record<string, unknown>;
}

export interface SpecEdge {
  id: string;
  source: { node: string; port: string };
  target: { node: string; port: string };
}

export type InputKind = "text" | "number" | "integer" | "boolean" | "json";

/** One field of the run form. */
export interface InputField {
  name: string;
  kind: InputKind;
  required: boolean;
  description?: string;
  enumValues?: string[];
  defaultValue?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function specNodes(workflow: unknown): SpecNode[] {
  if (!isRecord(workflow) || !Array.isArray(workflow.nodes)) return [];
  return workflow.nodes.filter(isRecord).map((n) => ({
    id: String(n.id ?? ""),
    type: String(n.type ?? ""),
    name: typeof n.name === "string" ? n.name : "",
    properties: isRecord(n.properties) ? n.properties : {},
  }));
}

export function specEdges(workflow: unknown): SpecEdge[] {
  if (!isRecord(workflow) || !Array.isArray(workflow.edges)) return [];
  const edges: SpecEdge[] = [];
  for (const e of workflow.edges) {
    if (!isRecord(e) || !isRecord(e.source) || !isRecord(e.target)) continue;
    edges.push({
      id: String(e.id ?? ""),
      source: { node: String(e.source.node ?? ""), port: String(e.source.port ?? "") },
      target: { node: String(e.target.node ?? ""), port: String(e.target.port ?? "") },
    });
  }
  return edges;
}

export function publishedVersion(workflow: unknown): number | null {
  if (!isRecord(workflow)) return null;
  return typeof workflow.published_version === "number" ? workflow.published_version : null;
}

function kindOfSchema(schema: Record<string, unknown> | undefined, sample: unknown): InputKind {
  const declared = schema?.type;
  const type = Array.isArray(declared) ? declared.find((t) => t !== "null") : declared;
  switch (type) {
    case "string":
      return "text";
    case "number":
      return "number";
    case "integer":
      return "integer";
    case "boolean":
      return "boolean";
    case "object":
    case "array":
      return "json";
  }
  if (schema?.enum) return "text";
  switch (typeof sample) {
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "object":
      return sample === null ? "text" : "json";
    default:
      return "text";
  }
}

/**
 * The run form's fields: every property of the workflow's input JSON Schema, plus every
 * `field` an `input` node reads (see `nexus.engine.nodes.input`: a field without a default is
 * required at run time). An `input` node without `field` emits the whole input object; if no
 * field is named anywhere, the form falls back to one JSON editor (returns `null`).
 */
export function inputFields(workflow: unknown): InputField[] | null {
  const fields = new Map<string, InputField>();
  const schema = isRecord(workflow) && isRecord(workflow.inputs) ? workflow.inputs : {};
  const props = isRecord(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  for (const [name, raw] of Object.entries(props)) {
    const prop = isRecord(raw) ? raw : {};
    fields.set(name, {
      name,
      kind: kindOfSchema(prop, prop.default),
      required: required.has(name),
      description: typeof prop.description === "string" ? prop.description : undefined,
      enumValues: Array.isArray(prop.enum) ? prop.enum.map(String) : undefined,
      defaultValue: prop.default,
    });
  }
  let wholeObject = false;
  for (const node of specNodes(workflow)) {
    if (node.type !== "input") continue;
    const field = node.properties.field;
    if (typeof field !== "string" || field === "") {
      wholeObject = true;
      continue;
    }
    const hasDefault = "default" in node.properties;
    const known = fields.get(field);
    if (known) {
      if (!hasDefault && known.defaultValue === undefined) known.required = true;
      if (known.defaultValue === undefined && hasDefault) {
        known.defaultValue = node.properties.default;
      }
      continue;
    }
    fields.set(field, {
      name: field,
      kind: kindOfSchema(undefined, node.properties.default),
      required: !hasDefault,
      defaultValue: hasDefault ? node.properties.default : undefined,
    });
  }
  if (fields.size === 0 && wholeObject) return null;
  return [...fields.values()];
}

/** A node's inputs as its incoming edges deliver them, from the upstream nodes' outputs. */
export function deliveredInputs(
  nodeId: string,
  edges: SpecEdge[],
  outputOf: (nodeId: string) => unknown,
): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  for (const edge of edges) {
    if (edge.target.node !== nodeId) continue;
    const output = outputOf(edge.source.node);
    if (!isRecord(output) || !(edge.source.port in output)) continue;
    found ??= {};
    found[edge.target.port] = output[edge.source.port];
  }
  return found;
}

export { isRecord };

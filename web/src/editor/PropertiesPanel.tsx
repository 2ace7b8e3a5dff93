// The properties panel: the selected node's name, properties (generated from its type's JSON
// Schema) and policy; with nothing selected, the workflow's own name, description and inputs.
import { memo, useEffect, useId, useState } from "react";
import { ID_PATTERN, inputPorts, outputPorts, type Issue, type JsonSchema, type NodePolicy, type NodeSpec, type NodeType, type Port, type WfEdge, type WfNode } from "./graph";
import type { Connection } from "@xyflow/react";
import { Connections } from "./Connections";
import { SchemaField } from "./fields";

export interface WorkflowMeta {
  name: string;
  description: string;
  inputs: Record<string, unknown>;
}

interface Props {
  node: { id: string; spec: NodeSpec } | null;
  nodeType: NodeType | undefined;
  selectedCount: number;
  readOnly: boolean;
  issues: Issue[];
  meta: WorkflowMeta;
  onNodeChange: (id: string, update: (spec: NodeSpec) => NodeSpec) => void;
  onMetaChange: (meta: WorkflowMeta) => void;
  onCommit: () => void;
  edges: WfEdge[];
  types: Map<string, NodeType>;
  getNodes: () => WfNode[];
  onConnect: (c: Connection) => string | null;
  onRemoveEdge: (id: string) => void;
}

function fieldError(issues: Issue[], key: string): string | undefined {
  const hit = issues.find((i) => i.field === `properties.${key}` || i.field.startsWith(`properties.${key}.`) || i.field.startsWith(`properties.${key}[`));
  return hit?.message;
}

function PolicyFields({
  policy,
  readOnly,
  onChange,
  onCommit,
}: {
  policy: NodePolicy;
  readOnly: boolean;
  onChange: (p: NodePolicy) => void;
  onCommit: () => void;
}) {
  const id = useId();
  return (
    <details className="policy">
      <summary>Retries, timeout and errors</summary>
      <div className="field">
        <label htmlFor={`${id}-retries`}>Retries</label>
        <input
          id={`${id}-retries`}
          type="number"
          min={0}
          max={20}
          value={policy.retries ?? 0}
          readOnly={readOnly}
          onChange={(e) => onChange({ ...policy, retries: Math.max(0, Math.min(20, Math.trunc(Number(e.target.value) || 0))) })}
          onBlur={onCommit}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-timeout`}>Timeout (seconds)</label>
        <input
          id={`${id}-timeout`}
          type="number"
          min={0}
          step="any"
          value={policy.timeout_s ?? ""}
          placeholder="none"
          readOnly={readOnly}
          onChange={(e) => {
            const v = Number(e.target.value);
            onChange({ ...policy, timeout_s: e.target.value === "" || !(v > 0) ? null : v });
          }}
          onBlur={onCommit}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-onerror`}>On error</label>
        <select
          id={`${id}-onerror`}
          value={policy.on_error ?? "fail"}
          disabled={readOnly}
          onChange={(e) => {
            onChange({ ...policy, on_error: e.target.value as NodePolicy["on_error"] });
            onCommit();
          }}
        >
          <option value="fail">fail the run</option>
          <option value="continue">continue with the default value</option>
          <option value="error_port">fire the error port</option>
        </select>
      </div>
    </details>
  );
}

const PORT_TYPES = new Set(["text", "json", "number", "boolean", "list", "any"]);

function parsePorts(text: string): Port[] | null | string {
  if (text.trim() === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `Invalid JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!Array.isArray(value)) return "Must be a JSON array of {name, type, required?}.";
  const seen = new Set<string>();
  for (const p of value) {
    if (!p || typeof p !== "object") return "Each port is an object {name, type, required?}.";
    const { name, type, required } = p as Record<string, unknown>;
    if (typeof name !== "string" || !ID_PATTERN.test(name)) return `Bad port name ${JSON.stringify(name)}.`;
    if (seen.has(name)) return `Port ${name} is listed twice.`;
    seen.add(name);
    if (type !== undefined && !PORT_TYPES.has(String(type))) return `Port ${name}: type must be one of ${[...PORT_TYPES].join(", ")}.`;
    if (required !== undefined && typeof required !== "boolean") return `Port ${name}: required is true or false.`;
  }
  return (value as Port[]).map((p) => ({ name: p.name, type: p.type ?? "any", ...(p.required ? { required: true } : {}) }));
}

/** Override a node's ports (typed ports); empty means the node type's default ports. */
function PortsField({
  label,
  value,
  defaults,
  readOnly,
  onChange,
  onCommit,
}: {
  label: string;
  value: Port[] | null | undefined;
  defaults: Port[];
  readOnly: boolean;
  onChange: (v: Port[] | null) => void;
  onCommit: () => void;
}) {
  const id = useId();
  const show = (v: Port[] | null | undefined) => (v ? JSON.stringify(v) : "");
  const [text, setText] = useState(show(value));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText((t) => {
      const parsed = parsePorts(t);
      return typeof parsed !== "string" && JSON.stringify(parsed) === JSON.stringify(value ?? null) ? t : show(value);
    });
  }, [value]);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        className="code"
        rows={2}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        placeholder={`type defaults: ${JSON.stringify(defaults)}`}
        aria-invalid={error ? true : undefined}
        onChange={(e) => {
          setText(e.target.value);
          const parsed = parsePorts(e.target.value);
          if (typeof parsed === "string") setError(parsed);
          else {
            setError(null);
            onChange(parsed);
          }
        }}
        onBlur={onCommit}
      />
      {error ? (
        <span className="field-hint field-error" role="alert">
          {error}
        </span>
      ) : (
        <span className="field-hint">Empty: the node type's ports. Types: text, json, number, boolean, list, any.</span>
      )}
    </div>
  );
}

function InputsSchemaField({
  value,
  readOnly,
  onChange,
  onCommit,
}: {
  value: Record<string, unknown>;
  readOnly: boolean;
  onChange: (v: Record<string, unknown>) => void;
  onCommit: () => void;
}) {
  const id = useId();
  const [text, setText] = useState(JSON.stringify(value, null, 2));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText((t) => {
      try {
        if (JSON.stringify(JSON.parse(t)) === JSON.stringify(value)) return t;
      } catch {
        /* replace */
      }
      return JSON.stringify(value, null, 2);
    });
  }, [value]);
  return (
    <div className="field">
      <label htmlFor={id}>Inputs (JSON Schema)</label>
      <textarea
        id={id}
        className="code"
        rows={8}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed: unknown = JSON.parse(e.target.value);
            if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
              setError("Must be a JSON object (a JSON Schema).");
              return;
            }
            setError(null);
            onChange(parsed as Record<string, unknown>);
          } catch (err) {
            setError(`Invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
          }
        }}
        onBlur={onCommit}
      />
      {error ? (
        <span className="field-hint field-error" role="alert">
          {error}
        </span>
      ) : (
        <span className="field-hint">One run-form field per property, e.g. {'{"type":"object","properties":{"topic":{"type":"string"}}}'}</span>
      )}
    </div>
  );
}

function PropertiesPanelView({
  node,
  nodeType,
  selectedCount,
  readOnly,
  issues,
  meta,
  onNodeChange,
  onMetaChange,
  onCommit,
  edges,
  types,
  getNodes,
  onConnect,
  onRemoveEdge,
}: Props) {
  const nameId = useId();
  if (!node) {
    return (
      <section className="props glass" data-testid="properties-panel" aria-label="Properties">
        <h2>Workflow</h2>
        {selectedCount > 1 ? <p className="muted">{selectedCount} nodes selected.</p> : null}
        <div className="field">
          <label htmlFor={`${nameId}-wf`}>Workflow name</label>
          <input
            id={`${nameId}-wf`}
            value={meta.name}
            readOnly={readOnly}
            onChange={(e) => onMetaChange({ ...meta, name: e.target.value })}
            onBlur={onCommit}
          />
        </div>
        <div className="field">
          <label htmlFor={`${nameId}-desc`}>Description</label>
          <textarea
            id={`${nameId}-desc`}
            rows={2}
            value={meta.description}
            readOnly={readOnly}
            onChange={(e) => onMetaChange({ ...meta, description: e.target.value })}
            onBlur={onCommit}
          />
        </div>
        <InputsSchemaField
          value={meta.inputs}
          readOnly={readOnly}
          onChange={(inputs) => onMetaChange({ ...meta, inputs })}
          onCommit={onCommit}
        />
        {issues.filter((i) => !i.node).map((i, k) => (
          <p key={k} className="field-error" role="alert">
            {i.field ? `${i.field}: ` : ""}
            {i.message}
          </p>
        ))}
        <p className="muted">Select a node to edit its properties.</p>
      </section>
    );
  }
  const { id, spec } = node;
  const schema: JsonSchema = nodeType?.properties_schema ?? {};
  const required = new Set(schema.required ?? []);
  const props = spec.properties ?? {};
  const setProp = (key: string, value: unknown) =>
    onNodeChange(id, (s) => {
      const next = { ...(s.properties ?? {}) };
      if (value === undefined) delete next[key];
      else next[key] = value;
      return { ...s, properties: next };
    });
  const nodeIssues = issues.filter((i) => i.node === id);
  const otherIssues = nodeIssues.filter((i) => !i.field.startsWith("properties."));
  return (
    <section className="props glass" data-testid="properties-panel" aria-label={`Properties of ${spec.name || id}`}>
      <h2>
        {spec.name || id} <span className="muted">· {spec.type}</span>
      </h2>
      {nodeType ? <p className="muted small">{nodeType.description}</p> : <p className="field-error">Unknown node type {spec.type}.</p>}
      <div className="field">
        <label htmlFor={nameId}>Node name</label>
        <input
          id={nameId}
          value={spec.name ?? ""}
          placeholder={id}
          readOnly={readOnly}
          onChange={(e) => onNodeChange(id, (s) => ({ ...s, name: e.target.value }))}
          onBlur={onCommit}
        />
        <span className="field-hint mono">id: {id}</span>
      </div>
      {Object.entries(schema.properties ?? {}).map(([key, ps]) => (
        <SchemaField
          key={`${id}:${key}`}
          name={key}
          schema={ps}
          value={props[key]}
          required={required.has(key)}
          readOnly={readOnly}
          onChange={(v) => setProp(key, v)}
          onCommit={onCommit}
          error={fieldError(nodeIssues, key)}
        />
      ))}
      <Connections
        key={`${id}-connections`}
        id={id}
        spec={spec}
        edges={edges}
        types={types}
        readOnly={readOnly}
        getNodes={getNodes}
        onConnect={onConnect}
        onRemoveEdge={onRemoveEdge}
      />
      <details className="policy">
        <summary>Ports</summary>
        <PortsField
          key={`${id}-in`}
          label="Input ports (JSON)"
          value={spec.inputs}
          defaults={inputPorts({ ...spec, inputs: null }, nodeType)}
          readOnly={readOnly}
          onChange={(inputs) => onNodeChange(id, (s) => ({ ...s, inputs }))}
          onCommit={onCommit}
        />
        <PortsField
          key={`${id}-out`}
          label="Output ports (JSON)"
          value={spec.outputs}
          defaults={outputPorts({ ...spec, outputs: null }, nodeType)}
          readOnly={readOnly}
          onChange={(outputs) => onNodeChange(id, (s) => ({ ...s, outputs }))}
          onCommit={onCommit}
        />
      </details>
      <PolicyFields
        key={id}
        policy={spec.policy ?? {}}
        readOnly={readOnly}
        onChange={(policy) => onNodeChange(id, (s) => ({ ...s, policy }))}
        onCommit={onCommit}
      />
      {otherIssues.length ? (
        <ul className="field-error" role="alert">
          {otherIssues.map((i, k) => (
            <li key={k}>
              {i.field}: {i.message}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

/** Memoised: the canvas re-renders the editor on every drag frame; this panel need not follow. */
export const PropertiesPanel = memo(PropertiesPanelView);

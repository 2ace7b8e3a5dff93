// The selected node's connections, listed and editable without a mouse: remove an edge, or connect
// one of this node's outputs to another node's input (the same type checks as dragging).
import { memo, useId, useMemo, useState } from "react";
import type { Connection } from "@xyflow/react";
import { Button } from "../components/ui";
import { dynamicInputs, inputPorts, NEW_INPUT_HANDLE, outputPorts, type NodeSpec, type NodeType, type WfEdge, type WfNode } from "./graph";

interface Props {
  id: string;
  spec: NodeSpec;
  edges: WfEdge[];
  types: Map<string, NodeType>;
  readOnly: boolean;
  getNodes: () => WfNode[];
  onConnect: (c: Connection) => string | null;
  onRemoveEdge: (id: string) => void;
}

function ConnectionsView({ id, spec, edges, types, readOnly, getNodes, onConnect, onRemoveEdge }: Props) {
  const fromId = useId();
  const toId = useId();
  const outs = outputPorts(spec, types.get(spec.type));
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [error, setError] = useState<string | null>(null);
  const mine = edges.filter((e) => e.source === id || e.target === id);
  const targets = useMemo(() => {
    const list: { value: string; label: string }[] = [];
    for (const n of getNodes()) {
      if (n.id === id) continue;
      const t = types.get(n.data.spec.type);
      if (dynamicInputs(n.data.spec, t)) list.push({ value: `${n.id}\u0000${NEW_INPUT_HANDLE}`, label: `${n.id} · new input` });
      else for (const p of inputPorts(n.data.spec, t)) list.push({ value: `${n.id}\u0000${p.name}`, label: `${n.id}.${p.name} (${p.type})` });
    }
    return list;
    // edges: a new connection changes which inputs are free; spec: ports of this node
  }, [getNodes, id, types, edges, spec]); // eslint-disable-line react-hooks/exhaustive-deps
  const source = from || outs[0]?.name || "";
  return (
    <details className="policy">
      <summary>Connections ({mine.length})</summary>
      {mine.length === 0 ? <p className="muted small">No connections.</p> : null}
      <ul className="connections">
        {mine.map((e) => {
          const text = `${e.source}.${e.sourceHandle} → ${e.target}.${e.targetHandle}`;
          return (
            <li key={e.id}>
              <span className="mono small">{text}</span>
              {!readOnly ? (
                <Button variant="ghost" aria-label={`Remove connection ${text}`} onClick={() => onRemoveEdge(e.id)}>
                  ✕
                </Button>
              ) : null}
            </li>
          );
        })}
      </ul>
      {!readOnly && outs.length > 0 && targets.length > 0 ? (
        <form
          className="connect-form"
          onSubmit={(ev) => {
            ev.preventDefault();
            const [target, targetHandle] = (to || targets[0].value).split("\u0000");
            setError(onConnect({ source: id, sourceHandle: source, target, targetHandle }));
          }}
        >
          <div className="field">
            <label htmlFor={fromId}>Output port</label>
            <select id={fromId} value={source} onChange={(e) => setFrom(e.target.value)}>
              {outs.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name} ({p.type})
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={toId}>Connect to</label>
            <select id={toId} value={to || targets[0].value} onChange={(e) => setTo(e.target.value)}>
              {targets.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
          </div>
          <Button type="submit">Connect</Button>
          {error ? (
            <p className="field-error" role="alert">
              {error}
            </p>
          ) : null}
        </form>
      ) : null}
    </details>
  );
}

export const Connections = memo(ConnectionsView);

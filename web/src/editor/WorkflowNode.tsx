// The one canvas node component: name, type, run status border, typed port handles, the node's
// validation errors and (for llm/agent nodes) the tokens streaming in; far zoomed out, port dots
// instead of handles (lod.tsx). Memoised; it subscribes to its own run state and issues by id, so
// updates to other nodes never re-render it, and to the zoom only as far as crossing LOD_ZOOM.
import { Handle, Position, useEdges, useStore, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useMemo, useRef } from "react";
import { useEditorEnv } from "./context";
import {
  dynamicInputs,
  inputPorts,
  NEW_INPUT_HANDLE,
  outputPorts,
  type Port,
  type WfNode,
} from "./graph";
import { PortDots, zoomedOutSelector } from "./lod";
import { issueStore, runStore, useKeyed } from "./stores";

const STREAMING_TYPES = new Set(["llm", "agent"]);

function PortRow({ port, kind, connectable }: { port: Port; kind: "in" | "out"; connectable: boolean }) {
  const label = `${port.name} (${port.type})`;
  return (
    <div className={`wf-port wf-port-${kind}`}>
      <Handle
        type={kind === "in" ? "target" : "source"}
        position={kind === "in" ? Position.Left : Position.Right}
        id={port.name}
        isConnectable={connectable}
        aria-label={`${kind === "in" ? "Input" : "Output"} ${label}`}
        title={label}
        className={`wf-handle wf-type-${port.type}`}
      />
      <span className="wf-port-name">{port.name}</span>
      <span className="wf-port-type">{port.type}</span>
      {port.required ? <span className="wf-port-req" title="required">*</span> : null}
    </div>
  );
}

/** Merge nodes accept any input name: one handle per connected port plus one for a new input. */
function DynamicInputs({ id, connectable }: { id: string; connectable: boolean }) {
  // useEdges re-renders on every edge change, but only merge nodes use this.
  const edges = useEdges();
  const names = useMemo(() => {
    const seen = new Set<string>();
    for (const e of edges) if (e.target === id && e.targetHandle) seen.add(e.targetHandle);
    return [...seen].sort();
  }, [edges, id]);
  return (
    <>
      {names.map((name) => (
        <PortRow key={name} port={{ name, type: "any" }} kind="in" connectable={connectable} />
      ))}
      <div className="wf-port wf-port-in wf-port-new">
        <Handle
          type="target"
          position={Position.Left}
          id={NEW_INPUT_HANDLE}
          isConnectable={connectable}
          aria-label="Input new port (any)"
          title="new input (any)"
          className="wf-handle wf-type-any"
        />
        <span className="wf-port-name">+ input</span>
      </div>
    </>
  );
}

/** Tokens streaming into an llm/agent node, kept scrolled to the newest text. */
function Tokens({ id, text }: { id: string; text: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <div ref={ref} className="wf-node-tokens nowheel" data-testid={`node-tokens-${id}`}>
      {text}
    </div>
  );
}

function WorkflowNodeView({ id, data, selected }: NodeProps<WfNode>) {
  const { types, readOnly } = useEditorEnv();
  const spec = data.spec;
  const nodeType = types.get(spec.type);
  const run = useKeyed(runStore, id);
  const issues = useKeyed(issueStore, id);
  const status = run?.status ?? "idle";
  const ins = dynamicInputs(spec, nodeType) ? null : inputPorts(spec, nodeType);
  const outs = outputPorts(spec, nodeType);
  const connectable = !readOnly;
  // far zoomed out: port dots without handles (lod.tsx); merge nodes' ports depend on their edges
  const lowDetail = useStore(zoomedOutSelector) && ins !== null;
  // Ports renamed without a size change (switch cases, edited ports): re-read the handles.
  const updateInternals = useUpdateNodeInternals();
  const signature = `${ins?.map((p) => p.name).join(",") ?? "*"}|${outs.map((p) => p.name).join(",")}`;
  const firstSignature = useRef(signature);
  useEffect(() => {
    if (signature !== firstSignature.current) {
      firstSignature.current = signature;
      updateInternals(id);
    }
  }, [signature, id, updateInternals]);
  return (
    <div
      className={`wf-node status-${status}${selected ? " selected" : ""}${issues?.length ? " has-error" : ""}${nodeType ? "" : " unknown-type"}`}
      data-testid={`node-${id}`}
      data-status={status}
      aria-label={`${spec.name || id} (${spec.type}), ${status}`}
    >
      <div className="wf-node-head">
        <span className="wf-node-name">{spec.name || id}</span>
        <span className="wf-node-type">{spec.type}</span>
      </div>
      {spec.name ? <div className="wf-node-id mono">{id}</div> : null}
      {lowDetail && ins !== null ? (
        <PortDots id={id} ins={ins} outs={outs} />
      ) : (
        <div className="wf-node-ports">
          <div className="wf-node-ins">
            {ins === null ? (
              <DynamicInputs id={id} connectable={connectable} />
            ) : (
              ins.map((p) => <PortRow key={p.name} port={p} kind="in" connectable={connectable} />)
            )}
          </div>
          <div className="wf-node-outs">
            {outs.map((p) => (
              <PortRow key={p.name} port={p} kind="out" connectable={connectable} />
            ))}
          </div>
        </div>
      )}
      {STREAMING_TYPES.has(spec.type) && run?.tokens ? <Tokens id={id} text={run.tokens} /> : null}
      {run?.error ? <div className="wf-node-run-error">{run.error}</div> : null}
      {issues?.length ? (
        <ul className="wf-node-error" data-testid={`node-error-${id}`} role="alert">
          {issues.map((m, i) => (
            <li key={i}>{m}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export const WorkflowNode = memo(WorkflowNodeView);
export const nodeTypes = { wf: WorkflowNode };

// Running a workflow from the editor: the Run dialog, live node statuses (reported to the
// canvas as a RunView), the node inspector, stop / retry / re-run / approve, and run history.
import { useCallback, useEffect, useMemo, useRef, useState, type JSX } from "react";
import { useNavigate } from "react-router-dom";
import { api, ApiError, errorMessage, ok, type Schemas } from "../../api/client";
import { Button } from "../../components/ui";
import {
  ACTIVE_STATUSES,
  applyEvents,
  emptyRunState,
  FINAL_STATUSES,
  mergeRecords,
  toRunView,
  type NodeRecord,
  type RunEvent,
  type RunState,
} from "./events";
import { Inspector } from "./Inspector";
import { RunDialog } from "./RunDialog";
import { RunHistory, statusClass } from "./RunHistory";
import { deliveredInputs, inputFields, isRecord, publishedVersion, specEdges, specNodes } from "./spec";
import type { RunView } from "./types";
import { useRunEvents } from "./useRunEvents";
import "./run.css";

export interface RunPanelProps {
  workflowId: string;
  workflow: unknown;
  initialRunId?: string;
  selectedNodeId: string | null;
  saveIfDirty: () => Promise<boolean>;
  onRunView: (view: RunView) => void;
}

type Execution = Schemas["ExecutionDetail"];

interface StartError {
  message: string;
  fields: Record<string, string>;
}

/** An API error's per-field messages, keyed by input name (`input_data.x` → `x`). */
function fieldErrors(error: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!(error instanceof ApiError)) return fields;
  const strip = (f: string) => f.replace(/^input_data\.?/, "");
  if (Array.isArray(error.details)) {
    for (const d of error.details) {
      if (isRecord(d) && typeof d.field === "string" && typeof d.message === "string") {
        const name = strip(d.field);
        if (name && !(name in fields)) fields[name] = d.message;
      }
    }
  }
  if (error.field && strip(error.field) && !(strip(error.field) in fields)) {
    fields[strip(error.field)] = error.message;
  }
  return fields;
}

function sameEntries(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => k in b && a[k] === b[k]);
}

function sameView(a: RunView | null, b: RunView): boolean {
  if (a === null) return false;
  if (a.runId !== b.runId || a.status !== b.status || a.nodes !== b.nodes) return false;
  if (a.activeEdges.size !== b.activeEdges.size) return false;
  for (const edge of a.activeEdges) if (!b.activeEdges.has(edge)) return false;
  return true;
}

export function RunPanel(props: RunPanelProps): JSX.Element {
  const { workflowId, workflow, initialRunId, selectedNodeId } = props;
  const navigate = useNavigate();
  // Every member runs what they may read (viewers too) and acts on the runs they may see:
  // their own, or any in a workspace they administer.
  const [run, setRun] = useState<RunState>(() => emptyRunState(initialRunId ?? null));
  const [execution, setExecution] = useState<Execution | null>(null);
  const [dialogOpen, setDialogOpen] = useState(false);
  const [starting, setStarting] = useState<string | null>(null);
  const [startError, setStartError] = useState<StartError | null>(null);
  const [lastInputs, setLastInputs] = useState<Record<string, unknown> | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [inspectorClosedFor, setInspectorClosedFor] = useState<string | null>(null);
  const [published, setPublished] = useState<number | null>(() => publishedVersion(workflow));
  const runId = run.runId;
  const [retryPending, setRetryPending] = useState<string | null>(null);

  // A route change (history row, back/forward) shows that run.
  useEffect(() => {
    if (initialRunId && initialRunId !== runId) {
      setRun(emptyRunState(initialRunId));
      setExecution(null);
      setActionError(null);
    }
    // Only the route drives this; runs started here keep their own id.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [initialRunId]);

  // What "Run" executes: the published version if there is one, else the saved draft.
  useEffect(() => {
    const fromProp = publishedVersion(workflow);
    if (isRecord(workflow) && "published_version" in workflow) {
      setPublished(fromProp);
      return;
    }
    const abort = new AbortController();
    api
      .GET("/api/v1/workflows/{workflow_id}", {
        params: { path: { workflow_id: workflowId } },
        signal: abort.signal,
      })
      .then(({ data }) => {
        if (data) setPublished(data.published_version ?? null);
      })
      .catch(() => {});
    return () => abort.abort();
  }, [workflow, workflowId]);

  const nodes = useMemo(() => specNodes(workflow), [workflow]);
  const edges = useMemo(() => specEdges(workflow), [workflow]);
  const fields = useMemo(() => inputFields(workflow), [workflow]);

  // ---- live events
  const onEvents = useCallback((id: string, events: RunEvent[]) => {
    setRun((current) => (current.runId === id ? applyEvents(current, events) : current));
  }, []);
  const stream = useRunEvents(runId, onEvents);

  // ---- the per-node records fill what events do not carry (and the run's input and usage)
  const refreshExecution = useCallback(async (id: string) => {
    try {
      const data = await ok(
        api.GET("/api/v1/executions/{run_id}", { params: { path: { run_id: id } } }),
      );
      setExecution((current) => (current === null || current.id === id || data.id === id ? data : current));
      setRun((current) => {
        if (current.runId !== id) return current;
        let next = mergeRecords(current, data.nodes as Record<string, NodeRecord>);
        if (next.status === null) next = { ...next, status: data.status };
        return next;
      });
    } catch (error) {
      setActionError(errorMessage(error));
    }
  }, []);
  const status = run.status;
  useEffect(() => {
    if (retryPending !== null && (retryPending !== runId || status !== "failed")) setRetryPending(null);
  }, [retryPending, runId, status]);
  useEffect(() => {
    if (retryPending === null) return;
    const timer = setTimeout(() => setRetryPending(null), 15_000);
    return () => clearTimeout(timer);
  }, [retryPending]);
  const settled = status !== null && !ACTIVE_STATUSES.has(status);
  const waitingNow = status === "waiting";
  useEffect(() => {
    if (runId) void refreshExecution(runId);
  }, [runId, settled, waitingNow, refreshExecution]);

  // ---- report to the canvas (only when something changed: the canvas re-renders per node)
  const lastView = useRef<RunView | null>(null);
  const onRunView = useRef(props.onRunView);
  onRunView.current = props.onRunView;
  useEffect(() => {
    const view = toRunView(run, edges);
    if (sameView(lastView.current, view)) return;
    lastView.current = view;
    onRunView.current(view);
  }, [run, edges]);

  // ---- actions
  // Save first, so the form asks for the inputs of what will actually run.
  const openDialog = async () => {
    setStartError(null);
    setActionError(null);
    setStarting("Saving the workflow…");
    try {
      if (!(await props.saveIfDirty())) {
        setActionError("The workflow could not be saved; fix it, then run.");
        return;
      }
    } catch (error) {
      setActionError(errorMessage(error));
      return;
    } finally {
      setStarting(null);
    }
    setDialogOpen(true);
  };

  const start = async (inputs: Record<string, unknown>) => {
    setStartError(null);
    try {
      setStarting("Saving the workflow…");
      const saved = await props.saveIfDirty();
      if (!saved) {
        setStartError({ message: "The workflow could not be saved; fix it, then run.", fields: {} });
        return;
      }
      setStarting("Starting the run…");
      const result = await ok(
        api.POST("/api/v1/workflows/{workflow_id}/execute", {
          params: { path: { workflow_id: workflowId } },
          body: { input_data: inputs, options: { async: true } },
        }),
      );
      setLastInputs(inputs);
      setExecution(null);
      setActionError(null);
      setInspectorClosedFor(null);
      setRun(emptyRunState(result.execution_id, result.status));
      setDialogOpen(false);
      if (initialRunId) {
        navigate(`/workflows/${encodeURIComponent(workflowId)}/runs/${encodeURIComponent(result.execution_id)}`);
      }
    } catch (error) {
      setStartError({ message: errorMessage(error), fields: fieldErrors(error) });
    } finally {
      setStarting(null);
    }
  };

  const act = async (key: string, action: () => Promise<void>) => {
    setBusy(key);
    setActionError(null);
    try {
      await action();
    } catch (error) {
      setActionError(errorMessage(error));
    } finally {
      setBusy(null);
    }
  };

  const stop = () =>
    act("stop", async () => {
      const id = runId!;
      const data = await ok(
        api.POST("/api/v1/executions/{run_id}/stop", { params: { path: { run_id: id } } }),
      );
      setExecution(data);
      // The stream's run_completed says the same; a stopped run that never started has none.
      setRun((current) => (current.runId === id && current.status !== data.status ? { ...current, status: data.status } : current));
    });

  const retry = () =>
    act("retry", async () => {
      const id = runId!;
      await ok(api.POST("/api/v1/executions/{run_id}/retry", { params: { path: { run_id: id } } }));
      // The retried run's events (workflow_status running, …) follow on the same stream.
      setRetryPending(id);
      stream.resume();
    });

  const decide = (nodeId: string, approved: boolean, comment: string) =>
    act(`${approved ? "approve" : "reject"}:${nodeId}`, async () => {
      const id = runId!;
      await ok(
        api.POST("/api/v1/executions/{run_id}/approvals/{node_id}", {
          params: { path: { run_id: id, node_id: nodeId } },
          body: { approved, comment: comment.trim() ? comment.trim() : null },
        }),
      );
      stream.resume();
    });

  const rerun = (nodeId: string, inputs: Record<string, unknown>, nodeInputs: Record<string, unknown> | null) =>
    act(`rerun:${nodeId}`, async () => {
      const created = await ok(
        api.POST("/api/v1/executions/{run_id}/rerun", {
          params: { path: { run_id: runId! } },
          body: { from_node: nodeId, inputs, node_inputs: nodeInputs },
        }),
      );
      setExecution(null);
      setRun(emptyRunState(created.id, created.status));
      if (initialRunId) {
        navigate(`/workflows/${encodeURIComponent(workflowId)}/runs/${encodeURIComponent(created.id)}`);
      }
    });

  // ---- what is shown
  const active = status !== null && ACTIVE_STATUSES.has(status);
  const waitingApprovals = (status === "waiting" ? Object.entries(run.nodes) : []).filter(
    ([, n]) => n.status === "waiting" && (n.waitingRequest?.kind === "approval" || n.waitingRequest === undefined),
  );
  const runInput = execution && execution.id === runId ? execution.input : lastInputs;
  const progressText =
    run.progress !== null && active ? `${Math.round(run.progress * 100)}%` : null;
  const versionNote =
    published !== null
      ? `Runs published version ${published}. Your saved draft runs only after you publish it (Versions).`
      : "Runs the saved draft; unsaved changes are saved first.";
  const showInspector = runId !== null && selectedNodeId !== null && inspectorClosedFor !== selectedNodeId;
  const selected = selectedNodeId !== null ? nodes.find((n) => n.id === selectedNodeId) : undefined;
  const lastInputsRef = useRef<Record<string, unknown> | null>(null);
  const selectedInputs = useMemo(() => {
    if (selectedNodeId === null) return undefined;
    const detail = run.nodes[selectedNodeId];
    if (detail?.input !== undefined) return detail.input; // the execution's node record
    const fromEdges = deliveredInputs(selectedNodeId, edges, (id) => run.nodes[id]?.output);
    if (fromEdges !== undefined) {
      // Keep the previous object while the values are the same (the inspector formats it once).
      const last = lastInputsRef.current;
      if (last && sameEntries(last, fromEdges)) return last;
      lastInputsRef.current = fromEdges;
      return fromEdges;
    }
    if (detail?.waitingRequest && "input" in detail.waitingRequest) {
      return { input: detail.waitingRequest.input };
    }
    if (selected?.type === "input" && runInput) return runInput;
    return undefined;
  }, [selectedNodeId, run.nodes, edges, selected?.type, runInput]);

  useEffect(() => {
    if (inspectorClosedFor !== null && inspectorClosedFor !== selectedNodeId) setInspectorClosedFor(null);
  }, [selectedNodeId, inspectorClosedFor]);

  const transportText =
    stream.phase === "live"
      ? `live (${stream.transport === "ws" ? "WebSocket" : "SSE"})`
      : stream.phase === "reconnecting"
        ? "reconnecting…"
        : stream.phase === "loading"
          ? "loading events…"
          : stream.phase === "error"
            ? `event stream error: ${stream.error ?? ""}`
            : null;

  return (
    <div className="run-panel">
      <div className="run-bar glass" role="toolbar" aria-label="Run">
        <Button
          variant="primary"
          onClick={() => void openDialog()}
          busy={starting !== null && !dialogOpen}
          disabled={starting !== null}
        >
          Run
        </Button>

        <span className="run-status-wrap">
          <span className="run-label">Status</span>{" "}
          <span
            className={`run-badge ${status ? statusClass(status) : "status-idle"}`}
            data-testid="run-status"
            role="status"
            aria-live="polite"
          >
            {status ?? "idle"}
          </span>
        </span>
        {active ? (
          <span className="run-progress-bar" aria-hidden={progressText === null}>
            <progress
              max={1}
              value={run.progress ?? undefined}
              aria-label="Run progress"
            />
            {progressText ? <span className="run-progress-text">{progressText}</span> : null}
          </span>
        ) : null}
        {runId !== null && transportText ? (
          <span className="run-transport" data-testid="run-transport">
            {transportText}
          </span>
        ) : null}
        {active && runId !== null ? (
          <Button variant="danger" onClick={stop} busy={busy === "stop"} disabled={busy !== null}>
            Stop
          </Button>
        ) : null}
        {status === "failed" && runId !== null ? (
          <Button
            onClick={retry}
            busy={busy === "retry" || retryPending === runId}
            disabled={busy !== null || retryPending === runId}
          >
            Retry from failed node
          </Button>
        ) : null}
        <Button
          onClick={() => setHistoryOpen((open) => !open)}
          aria-expanded={historyOpen}
          aria-pressed={historyOpen}
        >
          Runs
        </Button>
        {runId !== null ? (
          <span className="run-id mono" title={`Run ${runId}`}>
            {execution && execution.id === runId
              ? `${execution.version != null ? `v${execution.version}` : "draft"} · `
              : ""}
            {runId}
          </span>
        ) : null}
      </div>

      {actionError && !showInspector ? (
        <p className="run-error glass" role="alert">
          {actionError}
        </p>
      ) : null}

      {status === "failed" && run.error?.message ? (
        <p className="run-error-summary glass">
          Failed{run.error.code ? ` (${run.error.code})` : ""}: {run.error.message}
        </p>
      ) : null}

      {waitingApprovals.filter(([id]) => !(showInspector && id === selectedNodeId)).length > 0 ? (
        <section className="run-approvals glass" aria-label="Waiting for approval">
          {waitingApprovals
            .filter(([id]) => !(showInspector && id === selectedNodeId))
            .map(([id, node]) => {
              const name = nodes.find((n) => n.id === id)?.name || id;
              const message = typeof node.waitingRequest?.message === "string" ? node.waitingRequest.message : "";
              return (
                <div className="run-approval" key={id}>
                  <span>
                    <strong>{name}</strong> waits for approval{message ? `: ${message}` : ""}
                  </span>
                  <Button
                    variant="primary"
                    busy={busy === `approve:${id}`}
                    disabled={busy !== null}
                    onClick={() => decide(id, true, "")}
                  >
                    Approve
                  </Button>
                  <Button
                    variant="danger"
                    busy={busy === `reject:${id}`}
                    disabled={busy !== null}
                    onClick={() => decide(id, false, "")}
                  >
                    Reject
                  </Button>
                </div>
              );
            })}
        </section>
      ) : null}

      {historyOpen ? (
        <RunHistory
          workflowId={workflowId}
          currentRunId={runId}
          refreshKey={`${runId ?? ""}:${settled ? "settled" : "active"}`}
          onClose={() => setHistoryOpen(false)}
        />
      ) : null}

      {showInspector && selectedNodeId !== null ? (
        <Inspector
          runId={runId}
          nodeId={selectedNodeId}
          nodeName={selected?.name ?? ""}
          nodeType={selected?.type ?? ""}
          detail={run.nodes[selectedNodeId]}
          inputs={selectedInputs}
          runInput={runInput ?? null}
          runFinal={status !== null && FINAL_STATUSES.has(status)}
          busy={busy}
          actionError={actionError}
          onDecide={decide}
          onRerun={rerun}
          onClose={() => setInspectorClosedFor(selectedNodeId)}
        />
      ) : null}

      <RunDialog
        open={dialogOpen}
        fields={fields}
        note={versionNote}
        busy={starting !== null}
        progress={starting}
        error={startError}
        lastInputs={lastInputs}
        onStart={(inputs) => void start(inputs)}
        onClose={() => setDialogOpen(false)}
      />
    </div>
  );
}

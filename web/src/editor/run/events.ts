// Run events (the same on the WebSocket, SSE and the stored list) and how they fold into a
// RunView. Pure functions: the live view and a replay of a past run go through the same code.
import type { NodeRunState, RunView } from "./types";
import { isRecord, type SpecEdge } from "./spec";

/** One run event, whichever transport brought it. `seq` is per run, from 1, without gaps. */
export interface RunEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  ts?: number;
}

/** Every event type the server emits (SSE names its frames after them). */
export const EVENT_TYPES = [
  "run_started",
  "token",
  "message",
  "tool_called",
  "tool_output",
  "handoff",
  "agent_updated",
  "guardrail_tripped",
  "usage",
  "run_failed",
  "run_completed",
  "workflow_status",
  "node_started",
  "node_completed",
  "node_failed",
  "node_waiting",
  "node_skipped",
  "code_attempt",
] as const;

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled", "blocked_by_guardrail"]);
export const ACTIVE_STATUSES = new Set(["queued", "running", "waiting"]);

/** What the panel keeps per node beyond the shared NodeRunState. */
export interface NodeDetail extends NodeRunState {
  attempt?: number;
  skipped?: boolean;
  retrying?: boolean;
  /** The request of a waiting node (approval: message, approvers, input). */
  waitingRequest?: Record<string, unknown>;
  errorCode?: string;
  /** It was running or waiting when the run ended (stopped, or failed elsewhere). */
  interrupted?: boolean;
}

export interface RunState {
  runId: string | null;
  status: string | null;
  nodes: Record<string, NodeDetail>;
  lastSeq: number;
  progress: number | null;
  outputs?: unknown;
  error?: { code?: string; message?: string } | null;
}

export function emptyRunState(runId: string | null, status: string | null = null): RunState {
  return { runId, status, nodes: {}, lastSeq: 0, progress: null };
}

export function toRunEvent(raw: unknown): RunEvent | null {
  if (!isRecord(raw)) return null;
  const seq = Number(raw.seq);
  // A WebSocket frame is {"type": "event", "event": NAME, …}; SSE and the stored list carry
  // {"type": NAME, …}.
  const type =
    typeof raw.event === "string" ? raw.event : typeof raw.type === "string" ? raw.type : "";
  if (!Number.isFinite(seq) || type === "") return null;
  const data = isRecord(raw.data) ? raw.data : {};
  const ts = typeof raw.ts === "number" ? raw.ts : typeof raw.created_at === "number" ? raw.created_at : undefined;
  return { seq, type, data, ts };
}

function errorText(error: unknown): string | undefined {
  if (error == null) return undefined;
  if (typeof error === "string") return error;
  if (isRecord(error)) {
    const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
    return typeof error.code === "string" ? `${error.code}: ${message}` : message;
  }
  return String(error);
}

/**
 * Apply `events` (in seq order) to `state`; events at or below `state.lastSeq` are dropped, so
 * a replay overlapping a live stream never applies anything twice. Returns a new state when
 * something changed, else the same object.
 */
export function applyEvents(state: RunState, events: RunEvent[]): RunState {
  let next: RunState | null = null;
  for (const event of events) {
    const current: RunState = next ?? state;
    if (event.seq <= current.lastSeq) continue;
    if (next === null) next = { ...state, nodes: { ...state.nodes } };
    next.lastSeq = event.seq;
    applyOne(next, event);
  }
  return next ?? state;
}

function applyOne(state: RunState, event: RunEvent): void {
  const data = event.data;
  const nodeId = typeof data.node_id === "string" ? data.node_id : null;
  const node = (): NodeDetail => state.nodes[nodeId!] ?? { status: "idle" };
  const put = (patch: Partial<NodeDetail>) => {
    state.nodes[nodeId!] = { ...node(), ...patch };
  };
  switch (event.type) {
    case "run_started":
      if (state.status === null || state.status === "queued") state.status = "running";
      return;
    case "workflow_status":
      if (typeof data.status === "string") state.status = data.status;
      if (typeof data.progress === "number") state.progress = data.progress;
      return;
    case "run_completed":
      if (typeof data.status === "string") state.status = data.status;
      // A stopped or failed run leaves nothing running or waiting.
      for (const [id, node] of Object.entries(state.nodes)) {
        if (node.status === "running" || node.status === "waiting") {
          state.nodes[id] = { ...node, status: "idle", interrupted: true, retrying: false };
        }
      }
      state.outputs = data.outputs;
      state.error = isRecord(data.error) ? (data.error as RunState["error"]) : null;
      if (data.status === "succeeded") state.progress = 1;
      return;
    case "run_failed":
      state.error = data as RunState["error"];
      return;
  }
  if (nodeId === null) return;
  switch (event.type) {
    case "node_started": {
      // A new attempt (retry, resume) starts clean: its tokens, output and error are its own.
      put({
        status: "running",
        attempt: typeof data.attempt === "number" ? data.attempt : undefined,
        tokens: undefined,
        output: undefined,
        error: undefined,
        errorCode: undefined,
        durationMs: undefined,
        skipped: false,
        interrupted: false,
        retrying: false,
        waitingRequest: node().status === "waiting" ? node().waitingRequest : undefined,
      });
      if (state.status === null || state.status === "queued") state.status = "running";
      return;
    }
    case "node_completed":
      put({
        status: "completed",
        output: data.result,
        durationMs: typeof data.execution_time === "number" ? data.execution_time : undefined,
        error: undefined,
        retrying: false,
      });
      return;
    case "node_failed": {
      const willRetry = data.will_retry === true;
      const code = isRecord(data.error) && typeof data.error.code === "string" ? data.error.code : undefined;
      put({
        status: willRetry ? "running" : "failed",
        error: willRetry ? `attempt ${String(data.attempt ?? "?")} failed, retrying: ${errorText(data.error)}` : errorText(data.error),
        errorCode: code,
        retrying: willRetry,
      });
      return;
    }
    case "node_waiting":
      put({
        status: "waiting",
        waitingRequest: isRecord(data.request) ? data.request : {},
      });
      return;
    case "node_skipped":
      put({ status: "idle", skipped: true });
      return;
    case "token":
      if (typeof data.delta === "string") put({ tokens: (node().tokens ?? "") + data.delta });
      return;
  }
}

/** Edges into a running node carry data right now. */
export function activeEdges(nodes: Record<string, NodeRunState>, edges: SpecEdge[]): Set<string> {
  const active = new Set<string>();
  for (const edge of edges) {
    if (nodes[edge.target.node]?.status === "running") active.add(edge.id);
  }
  return active;
}

export function toRunView(state: RunState, edges: SpecEdge[]): RunView {
  return {
    runId: state.runId,
    status: state.status,
    nodes: state.nodes,
    activeEdges: activeEdges(state.nodes, edges),
  };
}

/** A node record of `GET /api/v1/executions/{id}` (the checkpointed state of each node). */
export interface NodeRecord {
  status: string;
  attempt?: number;
  inputs?: unknown;
  outputs?: unknown;
  error?: unknown;
  waiting?: unknown;
  duration_ms?: number | null;
}

const RECORD_STATUS: Record<string, NodeDetail["status"]> = {
  running: "running",
  completed: "completed",
  failed: "failed",
  waiting: "waiting",
};

/**
 * Fill what the events did not bring (a node the stream has not reached yet, a duration, an
 * output) from the execution's node records. Events stay authoritative: a record only fills
 * fields of a node in the same status, or adds a node the events never mentioned.
 */
export function mergeRecords(state: RunState, records: Record<string, NodeRecord>): RunState {
  let nodes: Record<string, NodeDetail> | null = null;
  for (const [nodeId, record] of Object.entries(records)) {
    const status = RECORD_STATUS[record.status];
    if (!status) continue;
    const current = state.nodes[nodeId];
    const fromRecord: NodeDetail = {
      status,
      attempt: record.attempt,
      input: record.inputs ?? undefined,
      output: record.outputs ?? undefined,
      error: errorText(record.error),
      durationMs: record.duration_ms ?? undefined,
      waitingRequest: isRecord(record.waiting) ? record.waiting : undefined,
    };
    let next: NodeDetail | null = null;
    if (!current) next = fromRecord;
    else if (current.status === status) {
      const filled: NodeDetail = { ...current };
      let changed = false;
      for (const key of ["input", "output", "error", "durationMs", "waitingRequest", "attempt"] as const) {
        if (filled[key] === undefined && fromRecord[key] !== undefined) {
          (filled as unknown as Record<string, unknown>)[key] = fromRecord[key];
          changed = true;
        }
      }
      if (changed) next = filled;
    }
    if (next) {
      nodes ??= { ...state.nodes };
      nodes[nodeId] = next;
    }
  }
  return nodes ? { ...state, nodes } : state;
}

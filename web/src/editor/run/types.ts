export type NodeRunStatus = "idle" | "running" | "completed" | "failed" | "waiting";
export interface NodeRunState { status: NodeRunStatus; input?: unknown; output?: unknown;
  error?: string; durationMs?: number; tokens?: string; usage?: Record<string, number>; }
export interface RunView { runId: string | null; status: string | null;
  nodes: Record<string, NodeRunState>; activeEdges: Set<string>; }

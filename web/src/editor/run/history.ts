// This workflow's runs. The list route is being added to the API; until it lands the runs list
// is read and each workflow run's workflow is looked up. Whichever route answers is remembered.
import { rawFetch, ApiError } from "../../api/client";
import { isRecord } from "./spec";

export interface RunSummary {
  id: string;
  status: string;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  workflowId: string | null;
}

export interface RunPage {
  items: RunSummary[];
  total: number;
}

type Source = "executions" | "workflow-executions" | "runs";
let knownSource: Source | null = null;

function summary(raw: unknown): RunSummary | null {
  if (!isRecord(raw) || typeof raw.id !== "string") return null;
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    id: raw.id,
    status: typeof raw.status === "string" ? raw.status : "unknown",
    createdAt: text(raw.created_at),
    startedAt: text(raw.started_at),
    finishedAt: text(raw.finished_at),
    workflowId: text(raw.workflow_id),
  };
}

function page(body: unknown): RunPage {
  const items = isRecord(body) && Array.isArray(body.items) ? body.items : Array.isArray(body) ? body : [];
  const summaries = items.map(summary).filter((s): s is RunSummary => s !== null);
  const total = isRecord(body) && typeof body.total === "number" ? body.total : summaries.length;
  return { items: summaries, total };
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") search.set(k, String(v));
  return search.toString();
}

const workflowOfRun = new Map<string, string | null>();

async function viaRunsList(
  workflowId: string,
  status: string,
  pageNo: number,
  limit: number,
  signal: AbortSignal,
): Promise<RunPage> {
  const response = await rawFetch(
    `/api/v1/runs?${query({ status: status || undefined, page: pageNo, limit })}`,
    { signal },
  );
  const body: unknown = await response.json();
  const raw = isRecord(body) && Array.isArray(body.items) ? body.items : [];
  const result: RunSummary[] = [];
  for (const item of raw) {
    if (!isRecord(item) || item.kind !== "workflow") continue;
    const run = summary(item);
    if (!run) continue;
    let owner = run.workflowId ?? workflowOfRun.get(run.id);
    if (owner === undefined) {
      try {
        const detail = await rawFetch(`/api/v1/executions/${encodeURIComponent(run.id)}`, { signal });
        const json: unknown = await detail.json();
        owner = isRecord(json) && typeof json.workflow_id === "string" ? json.workflow_id : null;
      } catch (error) {
        if (signal.aborted) throw error;
        owner = null;
      }
      workflowOfRun.set(run.id, owner);
    }
    if (owner === workflowId) result.push({ ...run, workflowId: owner });
  }
  const total = isRecord(body) && typeof body.total === "number" ? body.total : raw.length;
  // `total` counts every run here; more pages may still hold this workflow's runs.
  return { items: result, total: Math.max(total, result.length) };
}

/** One page of the workflow's runs, newest first, optionally with one status. */
export async function listWorkflowRuns(
  workflowId: string,
  status: string,
  pageNo: number,
  limit: number,
  signal: AbortSignal,
): Promise<RunPage & { exact: boolean }> {
  const id = encodeURIComponent(workflowId);
  const params = { status: status || undefined, page: pageNo, limit };
  const candidates: [Source, string][] = [
    ["executions", `/api/v1/executions?${query({ ...params, workflow_id: workflowId })}`],
    ["workflow-executions", `/api/v1/workflows/${id}/executions?${query(params)}`],
  ];
  for (const [source, url] of candidates) {
    if (knownSource !== null && knownSource !== source) continue;
    try {
      const response = await rawFetch(url, { signal });
      knownSource = source;
      const result = page(await response.json());
      // Filter again: a server that ignores a parameter must not show other runs.
      const items = result.items.filter(
        (r) => (!status || r.status === status) && (r.workflowId === null || r.workflowId === workflowId),
      );
      return { ...result, items, exact: true };
    } catch (error) {
      // 404/405: the route is not there (yet); anything else is a real error.
      if (!(error instanceof ApiError) || ![404, 405].includes(error.status) || knownSource === source) {
        throw error;
      }
    }
  }
  knownSource = "runs";
  return { ...(await viaRunsList(workflowId, status, pageNo, limit, signal)), exact: false };
}

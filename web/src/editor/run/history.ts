// This workflow's runs: `GET /api/v1/executions?workflow_id=` (newest first, re-runs included).
import { api, ok, type Schemas } from "../../api/client";

export type RunSummary = Schemas["ExecutionSummary"];
type RunStatus = Schemas["RunStatus"];

export interface RunPage {
  items: RunSummary[];
  total: number;
}

/** One page of the workflow's runs, optionally with one status. */
export async function listWorkflowRuns(
  workflowId: string,
  status: string,
  page: number,
  limit: number,
  signal: AbortSignal,
): Promise<RunPage> {
  const data = await ok(
    api.GET("/api/v1/executions", {
      params: {
        query: {
          workflow_id: workflowId,
          status: status ? (status as RunStatus) : undefined,
          page,
          limit,
        },
      },
      signal,
    }),
  );
  return { items: data.items, total: data.total };
}

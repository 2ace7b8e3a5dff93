// The "Runs" panel: this workflow's runs with a status filter; a row opens the run's replay.
import { useCallback, useEffect, useId, useState } from "react";
import { useNavigate } from "react-router-dom";
import { errorMessage } from "../../api/client";
import { Button, EmptyState, ErrorState, LoadingState } from "../../components/ui";
import { listWorkflowRuns, type RunSummary } from "./history";
import { formatDuration } from "./Inspector";

const STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];
const LIMIT = 25;

function when(iso: string | null): string {
  if (!iso) return "—";
  // The API answers naive UTC times.
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function took(run: RunSummary): string {
  if (!run.started_at || !run.finished_at) return "—";
  const norm = (s: string) => new Date(/[zZ]|[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`).getTime();
  return formatDuration(norm(run.finished_at) - norm(run.started_at));
}

function statusClass(status: string): string {
  switch (status) {
    case "succeeded":
      return "status-completed";
    case "failed":
    case "cancelled":
    case "blocked_by_guardrail":
      return "status-failed";
    case "waiting":
      return "status-waiting";
    case "running":
    case "queued":
      return "status-running";
    default:
      return "status-idle";
  }
}

export { statusClass };

export function RunHistory(props: {
  workflowId: string;
  currentRunId: string | null;
  refreshKey: string;
  onClose: () => void;
}) {
  const { workflowId } = props;
  const navigate = useNavigate();
  const idBase = useId();
  const [status, setStatus] = useState("");
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [pageNo, setPageNo] = useState(1);
  const [more, setMore] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setRuns(null);
    setError(null);
    setPageNo(1);
    listWorkflowRuns(workflowId, status, 1, LIMIT, abort.signal)
      .then((result) => {
        setRuns(result.items);
        setMore(result.total > result.items.length);
      })
      .catch((e) => {
        if (!abort.signal.aborted) setError(errorMessage(e));
      });
    return () => abort.abort();
  }, [workflowId, status, attempt, props.refreshKey]);

  const loadMore = useCallback(async () => {
    setLoadingMore(true);
    try {
      const next = pageNo + 1;
      const result = await listWorkflowRuns(workflowId, status, next, LIMIT, new AbortController().signal);
      setRuns((current) => {
        const seen = new Set((current ?? []).map((r) => r.id));
        return [...(current ?? []), ...result.items.filter((r) => !seen.has(r.id))];
      });
      setPageNo(next);
      setMore(result.total > next * LIMIT);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoadingMore(false);
    }
  }, [pageNo, status, workflowId]);

  return (
    <section className="run-history glass" aria-labelledby={`${idBase}-title`}>
      <header className="run-history-head">
        <h3 id={`${idBase}-title`}>Runs</h3>
        <label htmlFor={`${idBase}-status`}>Status</label>
        <select id={`${idBase}-status`} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <Button variant="ghost" aria-label="Refresh runs" onClick={() => setAttempt((n) => n + 1)}>
          ↻
        </Button>
        <Button variant="ghost" aria-label="Close runs" onClick={props.onClose}>
          ×
        </Button>
      </header>
      {error ? (
        <ErrorState error={error} onRetry={() => setAttempt((n) => n + 1)} />
      ) : runs === null ? (
        <LoadingState label="Loading runs" />
      ) : runs.length === 0 ? (
        <EmptyState title={status ? `No ${status} runs` : "No runs yet"}>
          <p>Press Run to start one.</p>
        </EmptyState>
      ) : (
        <ul className="run-list">
          {runs.map((run) => (
            <li key={run.id}>
              <button
                type="button"
                className="run-row"
                data-testid="run-row"
                aria-current={run.id === props.currentRunId ? "true" : undefined}
                onClick={() =>
                  navigate(
                    `/workflows/${encodeURIComponent(workflowId)}/runs/${encodeURIComponent(run.id)}`,
                  )
                }
              >
                <span className={`run-badge ${statusClass(run.status)}`}>{run.status}</span>
                <span className="run-row-when">{when(run.created_at)}</span>
                <span className="run-row-took">{took(run)}</span>
                <span className="run-row-id mono">{run.id}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {runs !== null && more ? (
        <Button onClick={loadMore} busy={loadingMore}>
          Load more
        </Button>
      ) : null}
    </section>
  );
}

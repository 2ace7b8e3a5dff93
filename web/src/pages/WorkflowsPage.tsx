// Workflows: list with search, create, duplicate, delete, import (YAML/JSON file) and export.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { api, errorMessage, ok, rawFetch, type Schemas } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import {
  Button,
  Dialog,
  EmptyState,
  ErrorState,
  Field,
  GlassPanel,
  LoadingState,
  Notice,
  PageHeader,
  downloadBlob,
  formatDate,
} from "../components/ui";
import { ConfirmDeleteDialog } from "../components/ConfirmDeleteDialog";

type Workflow = Schemas["WorkflowSummaryPublic"];

/** The list's summary of a workflow the API returned whole (after create or duplicate). */
function summary(w: Schemas["WorkflowPublic"]): Workflow {
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    node_count: w.nodes?.length ?? 0,
    owner_id: w.owner_id,
    workspace_id: w.workspace_id,
    visibility: w.visibility,
    published_version: w.published_version,
    editable: w.editable,
    created_at: w.created_at,
    updated_at: w.updated_at,
  };
}

/** Every page of a paged list endpoint (100 per request, at most `maxPages`). */
export async function fetchAllWorkflows(maxPages = 50): Promise<Workflow[]> {
  const items: Workflow[] = [];
  for (let page = 1; page <= maxPages; page++) {
    const data = await ok(api.GET("/api/v1/workflows", { params: { query: { page, limit: 100 } } }));
    items.push(...data.items);
    if (items.length >= data.total || data.items.length === 0) break;
  }
  return items;
}

function copyName(name: string, taken: Set<string>): string {
  const base = `${name} copy`.slice(0, 190);
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) candidate = `${base} ${n}`;
  return candidate;
}

export default function WorkflowsPage() {
  const { canEdit } = useAuth();
  const navigate = useNavigate();
  const [items, setItems] = useState<Workflow[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [notice, setNotice] = useState<{ message: string; kind: "info" | "error" } | null>(null);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Workflow | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      setItems(await fetchAllWorkflows());
    } catch (err) {
      setLoadError(errorMessage(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const visible = useMemo(() => {
    const q = query.trim().toLowerCase();
    const sorted = [...(items ?? [])].sort((a, b) => b.updated_at.localeCompare(a.updated_at));
    if (!q) return sorted;
    return sorted.filter(
      (w) => w.name.toLowerCase().includes(q) || w.description.toLowerCase().includes(q),
    );
  }, [items, query]);

  async function duplicate(workflow: Workflow) {
    setBusy(workflow.id);
    setNotice(null);
    try {
      const full = await ok(
        api.GET("/api/v1/workflows/{workflow_id}", {
          params: { path: { workflow_id: workflow.id } },
        }),
      );
      const taken = new Set((items ?? []).map((w) => w.name));
      const created = await ok(
        api.POST("/api/v1/workflows", {
          body: {
            name: copyName(full.name, taken),
            description: full.description,
            inputs: full.inputs,
            nodes: full.nodes,
            edges: full.edges,
            limits: full.limits,
            visibility: full.visibility,
          },
        }),
      );
      setItems((prev) => [summary(created), ...(prev ?? [])]);
      setNotice({ message: `Duplicated as “${created.name}”.`, kind: "info" });
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    } finally {
      setBusy(null);
    }
  }

  async function exportYaml(workflow: Workflow) {
    setBusy(workflow.id);
    setNotice(null);
    try {
      const response = await rawFetch(
        `/api/v1/workflows/${encodeURIComponent(workflow.id)}/export?format=yaml`,
      );
      downloadBlob(await response.blob(), `${workflow.name}.yaml`);
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    } finally {
      setBusy(null);
    }
  }

  async function importFile(file: File) {
    setBusy("import");
    setNotice(null);
    try {
      const isJson = file.name.toLowerCase().endsWith(".json") || file.type === "application/json";
      const response = await rawFetch("/api/v1/workflows/import", {
        method: "POST",
        headers: { "Content-Type": isJson ? "application/json" : "application/yaml" },
        body: await file.text(),
      });
      const created = (await response.json()) as Schemas["WorkflowPublic"];
      setItems((prev) => [summary(created), ...(prev ?? [])]);
      setNotice({ message: `Imported “${created.name}”.`, kind: "info" });
    } catch (err) {
      setNotice({ message: `Import failed: ${errorMessage(err)}`, kind: "error" });
    } finally {
      setBusy(null);
      if (fileInput.current) fileInput.current.value = "";
    }
  }

  return (
    <div className="page">
      <PageHeader title="Workflows">
        <input
          type="search"
          className="search"
          aria-label="Search workflows"
          placeholder="Search workflows"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        {canEdit ? (
          <>
            <input
              ref={fileInput}
              type="file"
              data-testid="import-file"
              accept=".yaml,.yml,.json,application/yaml,application/json"
              className="visually-hidden"
              tabIndex={-1}
              aria-label="Workflow file to import"
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) void importFile(file);
              }}
            />
            <Button busy={busy === "import"} onClick={() => fileInput.current?.click()}>
              Import
            </Button>
            <Button variant="primary" onClick={() => setCreating(true)}>
              New workflow
            </Button>
          </>
        ) : null}
      </PageHeader>
      {notice ? <Notice message={notice.message} kind={notice.kind} /> : null}
      <GlassPanel className="list-panel">
        {loadError ? (
          <ErrorState error={loadError} onRetry={load} />
        ) : items === null ? (
          <LoadingState label="Loading workflows" />
        ) : visible.length === 0 ? (
          <EmptyState title={items.length === 0 ? "No workflows yet" : "No workflow matches"}>
            {items.length === 0 ? (
              <p className="dim">
                {canEdit
                  ? "Create one with “New workflow” or import a YAML/JSON file."
                  : "Nothing has been shared with you yet."}
              </p>
            ) : null}
          </EmptyState>
        ) : (
          <ul className="list" aria-label="Workflows">
            {visible.map((w) => (
              <li key={w.id} className="list-row" data-testid="workflow-row">
                <div className="list-main">
                  <a
                    className="list-title"
                    href={`/workflows/${w.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/workflows/${w.id}`);
                    }}
                  >
                    {w.name}
                  </a>
                  <div className="list-sub">
                    {w.description || "No description"} · {w.node_count} nodes · updated{" "}
                    {formatDate(w.updated_at)}
                  </div>
                </div>
                <span className={`badge ${w.published_version ? "badge-ok" : ""}`}>
                  {w.published_version ? `v${w.published_version}` : "draft"}
                </span>
                <span className="badge">{w.visibility}</span>
                <div className="list-actions">
                  <Button
                    className="btn-small"
                    aria-label={`Open ${w.name}`}
                    onClick={() => navigate(`/workflows/${w.id}`)}
                  >
                    Open
                  </Button>
                  {canEdit ? (
                    <Button
                      className="btn-small"
                      aria-label={`Duplicate ${w.name}`}
                      busy={busy === w.id}
                      onClick={() => void duplicate(w)}
                    >
                      Duplicate
                    </Button>
                  ) : null}
                  <Button
                    className="btn-small"
                    aria-label={`Export ${w.name}`}
                    onClick={() => void exportYaml(w)}
                  >
                    Export
                  </Button>
                  {canEdit && w.editable ? (
                    <Button
                      className="btn-small"
                      variant="danger"
                      aria-label={`Delete ${w.name}`}
                      onClick={() => setDeleting(w)}
                    >
                      Delete
                    </Button>
                  ) : null}
                </div>
              </li>
            ))}
          </ul>
        )}
      </GlassPanel>
      <CreateWorkflowDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(w) => navigate(`/workflows/${w.id}`)}
      />
      <ConfirmDeleteDialog
        name={deleting?.name ?? ""}
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await ok(
            api.DELETE("/api/v1/workflows/{workflow_id}", {
              params: { path: { workflow_id: deleting.id } },
            }),
          );
          setItems((prev) => (prev ?? []).filter((w) => w.id !== deleting.id));
          setNotice({ message: `Deleted “${deleting.name}”.`, kind: "info" });
          setDeleting(null);
        }}
      />
    </div>
  );
}

function CreateWorkflowDialog({
  open,
  onClose,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  onCreated: (workflow: Workflow) => void;
}) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await ok(
        api.POST("/api/v1/workflows", {
          body: { name: name.trim(), description: "", visibility: "workspace" },
        }),
      );
      setName("");
      onCreated(summary(created));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog open={open} title="New workflow" onClose={onClose}>
      <form className="stack" onSubmit={submit}>
        <Field label="Name" error={error}>
          {(props) => (
            <input
              {...props}
              required
              maxLength={200}
              value={name}
              onChange={(e) => setName(e.target.value)}
              autoFocus
            />
          )}
        </Field>
        <div className="dialog-actions">
          <Button type="button" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy} disabled={!name.trim()}>
            Create
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

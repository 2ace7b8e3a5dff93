// Agents: mine, this workspace's, and the community's (public); create, clone, export, delete.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api, errorMessage, ok, rawFetch, type Schemas } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { ConfirmDeleteDialog } from "../components/ConfirmDeleteDialog";
import {
  Button,
  EmptyState,
  ErrorState,
  GlassPanel,
  LoadingState,
  Notice,
  PageHeader,
  Tabs,
  downloadBlob,
} from "../components/ui";

type Agent = Schemas["AgentPublic"];
type Scope = "mine" | "workspace" | "community";
const TABS: { id: Scope; label: string }[] = [
  { id: "mine", label: "Mine" },
  { id: "workspace", label: "Workspace" },
  { id: "community", label: "Community" },
];

export async function fetchAgents(
  scope: "all" | Scope,
  maxPages = 20,
): Promise<Agent[]> {
  const items: Agent[] = [];
  for (let page = 1; page <= maxPages; page++) {
    const data = await ok(api.GET("/api/v1/agents", { params: { query: { scope, page, limit: 100 } } }));
    items.push(...data.items);
    if (items.length >= data.total || data.items.length === 0) break;
  }
  return items;
}

export default function AgentsPage() {
  const { canEdit } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const scope = (TABS.some((t) => t.id === params.get("tab")) ? params.get("tab") : "mine") as Scope;
  const [items, setItems] = useState<Agent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ message: string; kind: "info" | "error" } | null>(null);
  const [deleting, setDeleting] = useState<Agent | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  async function importFile(file: File) {
    setBusy("import");
    setNotice(null);
    try {
      const response = await rawFetch("/api/v1/agents/import", {
        method: "POST",
        headers: { "Content-Type": "application/yaml" },
        body: await file.text(),
      });
      const created = (await response.json()) as Agent;
      navigate(`/agents/${created.id}`);
    } catch (err) {
      setNotice({ message: `Import failed: ${errorMessage(err)}`, kind: "error" });
    } finally {
      setBusy(null);
      if (fileInput.current) fileInput.current.value = "";
    }
  }

  const latest = useRef(0);
  const load = useCallback(async () => {
    const call = ++latest.current; // a slower answer for an earlier tab must not win
    setError(null);
    setItems(null);
    try {
      const loaded = await fetchAgents(scope);
      if (call === latest.current) setItems(loaded);
    } catch (err) {
      if (call === latest.current) setError(errorMessage(err));
    }
  }, [scope]);

  useEffect(() => {
    void load();
  }, [load]);

  const visible = useMemo(() => {
    const q = query.trim().toLowerCase();
    const list = [...(items ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    if (!q) return list;
    return list.filter(
      (a) => a.name.toLowerCase().includes(q) || a.description.toLowerCase().includes(q),
    );
  }, [items, query]);

  async function clone(agent: Agent) {
    setBusy(agent.id);
    setNotice(null);
    try {
      const copy = await ok(
        api.POST("/api/v1/agents/{agent_id}/clone", { params: { path: { agent_id: agent.id } } }),
      );
      navigate(`/agents/${copy.id}`);
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    } finally {
      setBusy(null);
    }
  }

  async function exportYaml(agent: Agent) {
    try {
      const response = await rawFetch(`/api/v1/agents/${encodeURIComponent(agent.id)}/export`);
      downloadBlob(await response.blob(), `${agent.name}.yaml`);
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    }
  }

  return (
    <div className="page">
      <PageHeader title="Agents">
        <input
          type="search"
          className="search"
          aria-label="Search agents"
          placeholder="Search agents"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        {canEdit ? (
          <>
            <input
              ref={fileInput}
              type="file"
              data-testid="import-agent-file"
              accept=".yaml,.yml,.json,application/yaml,application/json"
              className="visually-hidden"
              tabIndex={-1}
              aria-label="Agent file to import"
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) void importFile(file);
              }}
            />
            <Button busy={busy === "import"} onClick={() => fileInput.current?.click()}>
              Import
            </Button>
            <Button variant="primary" onClick={() => navigate("/agents/new")}>
              New agent
            </Button>
          </>
        ) : null}
      </PageHeader>
      <Tabs
        label="Agent lists"
        tabs={TABS}
        value={scope}
        onChange={(id) => setParams({ tab: id }, { replace: true })}
      />
      {notice ? <Notice message={notice.message} kind={notice.kind} /> : null}
      <GlassPanel role="tabpanel" aria-labelledby={`tab-${scope}`}>
        {error ? (
          <ErrorState error={error} onRetry={load} />
        ) : items === null ? (
          <LoadingState label="Loading agents" />
        ) : visible.length === 0 ? (
          <EmptyState
            title={
              items.length > 0
                ? "No agent matches"
                : scope === "mine"
                  ? "You have no agents yet"
                  : scope === "workspace"
                    ? "No agents shared with this workspace"
                    : "No public agents yet"
            }
          >
            {items.length === 0 && scope === "mine" && canEdit ? (
              <p className="dim">Create one with “New agent”, or clone one from Community.</p>
            ) : null}
          </EmptyState>
        ) : (
          <ul className="list" aria-label="Agents">
            {visible.map((a) => (
              <li key={a.id} className="list-row" data-testid="agent-row">
                <div className="list-main">
                  <a
                    className="list-title"
                    href={`/agents/${a.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/agents/${a.id}`);
                    }}
                  >
                    {a.name}
                  </a>
                  <div className="list-sub">
                    {a.description || "No description"} · <span className="mono">{a.model}</span>
                    {a.tools?.length ? ` · tools: ${a.tools.map((t) => t.name).join(", ")}` : ""}
                  </div>
                </div>
                <span className="badge">{a.visibility}</span>
                <div className="list-actions">
                  <Button
                    className="btn-small"
                    aria-label={`Chat with ${a.name}`}
                    onClick={() => navigate(`/chat/${a.id}`)}
                  >
                    Chat
                  </Button>
                  {canEdit ? (
                    <Button
                      className="btn-small"
                      aria-label={`Clone ${a.name}`}
                      busy={busy === a.id}
                      onClick={() => void clone(a)}
                    >
                      Clone
                    </Button>
                  ) : null}
                  <Button
                    className="btn-small"
                    aria-label={`Export ${a.name}`}
                    onClick={() => void exportYaml(a)}
                  >
                    Export
                  </Button>
                  {canEdit && a.editable ? (
                    <Button
                      className="btn-small"
                      variant="danger"
                      aria-label={`Delete ${a.name}`}
                      onClick={() => setDeleting(a)}
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
      <ConfirmDeleteDialog
        name={deleting?.name ?? ""}
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await ok(
            api.DELETE("/api/v1/agents/{agent_id}", { params: { path: { agent_id: deleting.id } } }),
          );
          setItems((prev) => (prev ?? []).filter((a) => a.id !== deleting.id));
          setDeleting(null);
        }}
      />
    </div>
  );
}

// Versions: publish the draft under a name, list versions, see what changed since one, restore it.
import { useCallback, useEffect, useId, useState } from "react";
import { api, errorMessage, ok, type Schemas } from "../api/client";
import { Button, EmptyState, ErrorState, LoadingState } from "../components/ui";

type Version = Schemas["VersionPublic"];
type Diff = Schemas["SpecDiff"];
type Workflow = Schemas["WorkflowPublic"];

function DiffSummary({ diff }: { diff: Diff }) {
  const rows: [string, string[]][] = [
    ["Fields changed", diff.fields_changed],
    ["Nodes added", diff.nodes_added],
    ["Nodes removed", diff.nodes_removed],
    ["Nodes changed", diff.nodes_changed],
    ["Edges added", diff.edges_added],
    ["Edges removed", diff.edges_removed],
    ["Edges changed", diff.edges_changed],
  ];
  const any = rows.some(([, list]) => list.length > 0);
  if (!any) return <p className="muted small" data-testid="version-diff">No differences from the saved draft.</p>;
  return (
    <dl className="diff small" data-testid="version-diff">
      {rows
        .filter(([, list]) => list.length > 0)
        .map(([label, list]) => (
          <div key={label}>
            <dt>
              {label} ({list.length})
            </dt>
            <dd className="mono">{list.slice(0, 20).join(", ")}{list.length > 20 ? " …" : ""}</dd>
          </div>
        ))}
    </dl>
  );
}

export function VersionsPanel({
  workflowId,
  publishedVersion,
  canEdit,
  dirty,
  saveIfDirty,
  onRestored,
  onPublished,
  onClose,
}: {
  workflowId: string;
  publishedVersion: number | null;
  canEdit: boolean;
  dirty: boolean;
  saveIfDirty: () => Promise<boolean>;
  onRestored: (workflow: Workflow) => void;
  onPublished: (version: Version) => void;
  onClose: () => void;
}) {
  const labelId = useId();
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [label, setLabel] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [diffs, setDiffs] = useState<Record<number, Diff | string>>({});

  const load = useCallback(async () => {
    setError(null);
    try {
      const list = await ok(api.GET("/api/v1/workflows/{workflow_id}/versions", { params: { path: { workflow_id: workflowId } } }));
      setVersions([...list].sort((a, b) => b.version - a.version));
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [workflowId]);

  useEffect(() => {
    void load();
  }, [load]);

  const publish = async () => {
    setBusy("publish");
    setActionError(null);
    try {
      if (!(await saveIfDirty())) return;
      const v = await ok(
        api.POST("/api/v1/workflows/{workflow_id}/versions", {
          params: { path: { workflow_id: workflowId } },
          body: { label: label.trim() || null },
        }),
      );
      setLabel("");
      onPublished(v);
      await load();
    } catch (e) {
      setActionError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const showDiff = async (version: number) => {
    if (diffs[version]) {
      setDiffs(({ [version]: _drop, ...rest }) => rest);
      return;
    }
    try {
      const d = await ok(
        api.GET("/api/v1/workflows/{workflow_id}/versions/{version}/diff", {
          params: { path: { workflow_id: workflowId, version } },
        }),
      );
      setDiffs((m) => ({ ...m, [version]: d }));
    } catch (e) {
      setDiffs((m) => ({ ...m, [version]: errorMessage(e) }));
    }
  };

  const restore = async (version: number) => {
    const warn = dirty ? " Your unsaved changes will be lost." : "";
    if (!window.confirm(`Restore version ${version} as the draft?${warn}`)) return;
    setBusy(`restore-${version}`);
    setActionError(null);
    try {
      const wf = await ok(
        api.POST("/api/v1/workflows/{workflow_id}/versions/{version}/restore", {
          params: { path: { workflow_id: workflowId, version } },
        }),
      );
      onRestored(wf);
      setDiffs({});
    } catch (e) {
      setActionError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="versions glass" aria-label="Versions" data-testid="versions-panel">
      <div className="panel-head">
        <h2>Versions</h2>
        <Button variant="ghost" onClick={onClose} aria-label="Close versions">
          ✕
        </Button>
      </div>
      {canEdit ? (
        <form
          className="publish-form"
          onSubmit={(e) => {
            e.preventDefault();
            void publish();
          }}
        >
          <label htmlFor={labelId}>Version name</label>
          <input id={labelId} value={label} maxLength={200} placeholder="optional" onChange={(e) => setLabel(e.target.value)} />
          <Button type="submit" variant="primary" busy={busy === "publish"}>
            Publish
          </Button>
        </form>
      ) : null}
      {actionError ? (
        <p className="field-error" role="alert">
          {actionError}
        </p>
      ) : null}
      {error ? (
        <ErrorState error={error} onRetry={() => void load()} />
      ) : versions === null ? (
        <LoadingState label="Loading versions" />
      ) : versions.length === 0 ? (
        <EmptyState title="No versions yet">
          <p className="small">Publish the draft to make a version that runs by default.</p>
        </EmptyState>
      ) : (
        <ul className="version-list">
          {versions.map((v) => {
            const diff = diffs[v.version];
            return (
              <li key={v.version} data-testid="version-row">
                <div className="version-line">
                  <strong>v{v.version}</strong>
                  {v.label ? <span>{v.label}</span> : null}
                  {publishedVersion === v.version ? <span className="badge">published</span> : null}
                  <span className="muted small">{new Date(v.created_at).toLocaleString()}</span>
                </div>
                <div className="version-actions">
                  <Button variant="ghost" onClick={() => void showDiff(v.version)} aria-expanded={!!diff} aria-label={`Changes since v${v.version}`}>
                    Changes
                  </Button>
                  {canEdit ? (
                    <Button variant="ghost" busy={busy === `restore-${v.version}`} onClick={() => void restore(v.version)} aria-label={`Restore v${v.version}`}>
                      Restore
                    </Button>
                  ) : null}
                </div>
                {typeof diff === "string" ? <p className="field-error">{diff}</p> : diff ? <DiffSummary diff={diff} /> : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

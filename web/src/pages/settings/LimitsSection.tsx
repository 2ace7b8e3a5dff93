// Settings → instance limits (administrators): rate and run limits are editable and take
// effect at once; workflow defaults and sandbox ceilings are shown read-only.
import { useEffect, useState, type FormEvent } from "react";
import { ApiError, api, errorMessage, ok, type Schemas } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { Button, EmptyState, ErrorState, LoadingState, Notice } from "../../components/ui";

type Limits = Schemas["LimitsPublic"];
type Limit = Schemas["LimitPublic"];

const GROUPS: { id: Limit["group"]; title: string }[] = [
  { id: "rate", title: "Rate limits" },
  { id: "runs", title: "Runs" },
  { id: "workflow", title: "Workflow defaults" },
  { id: "sandbox", title: "Sandbox ceilings" },
];

function show(value: number, unit: string): string {
  return `${value.toLocaleString()} ${unit}`;
}

export function LimitsSection() {
  const { me } = useAuth();
  const [limits, setLimits] = useState<Limits | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState<{ message: string; kind: "info" | "error"; field?: string } | null>(null);
  const isAdmin = me?.user.is_admin ?? false;

  async function load() {
    setError(null);
    try {
      const loaded = await ok(api.GET("/api/v1/admin/limits"));
      setLimits(loaded);
      setDraft({});
    } catch (err) {
      setError(errorMessage(err));
    }
  }

  useEffect(() => {
    if (isAdmin) void load();
  }, [isAdmin]);

  if (!isAdmin) {
    return (
      <section className="stack">
        <h2>Instance limits</h2>
        <EmptyState title="Instance administrators only" />
      </section>
    );
  }
  if (error) return <ErrorState error={error} onRetry={load} />;
  if (!limits) return <LoadingState label="Loading limits" />;

  const changed = Object.entries(draft).filter(([key, text]) => {
    const limit = limits.limits.find((l) => l.key === key);
    return limit && text.trim() !== "" && Number(text) !== limit.value;
  });

  async function save(values: Record<string, number | null>, done: string) {
    setSaving(true);
    setNotice(null);
    try {
      const saved = await ok(api.PUT("/api/v1/admin/limits", { body: { values } }));
      setLimits(saved);
      setDraft({});
      setNotice({ message: done, kind: "info" });
    } catch (err) {
      setNotice({
        message: errorMessage(err),
        kind: "error",
        field: err instanceof ApiError ? err.field?.replace(/^values\./, "") : undefined,
      });
    } finally {
      setSaving(false);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    const values: Record<string, number> = {};
    for (const [key, text] of changed) values[key] = Number(text);
    void save(values, "Limits saved; they apply now.");
  }

  return (
    <section className="stack">
      <h2>Instance limits</h2>
      <p className="dim">{limits.note}</p>
      <form className="stack" onSubmit={submit}>
        {GROUPS.map((group) => {
          const items = limits.limits.filter((l) => l.group === group.id);
          if (items.length === 0) return null;
          return (
            <fieldset key={group.id}>
              <legend>{group.title}</legend>
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Limit</th>
                    <th scope="col">Value</th>
                    <th scope="col">{group.id === "sandbox" ? "Per-call default" : "Configured"}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((l) => (
                    <tr key={l.key} data-testid="limit-row">
                      <td>
                        {l.editable ? (
                          <label htmlFor={`limit-${l.key}`} style={{ color: "var(--text)" }}>
                            {l.label}
                          </label>
                        ) : (
                          l.label
                        )}
                        {l.overridden ? (
                          <span className="badge badge-accent" style={{ marginLeft: 8 }}>
                            overridden
                          </span>
                        ) : null}
                      </td>
                      <td>
                        {l.editable ? (
                          <span className="row">
                            <input
                              id={`limit-${l.key}`}
                              type="number"
                              style={{ width: 140 }}
                              min={l.minimum ?? undefined}
                              max={l.maximum ?? undefined}
                              step={l.integer ? 1 : "any"}
                              value={draft[l.key] ?? String(l.value)}
                              aria-invalid={notice?.field === l.key || undefined}
                              onChange={(e) => setDraft((d) => ({ ...d, [l.key]: e.target.value }))}
                            />
                            <span className="dim">{l.unit}</span>
                          </span>
                        ) : (
                          show(l.value, l.unit)
                        )}
                      </td>
                      <td className="dim">
                        {show(l.default, l.unit)}
                        {l.overridden ? (
                          <Button
                            type="button"
                            className="btn-small btn-ghost"
                            aria-label={`Reset ${l.label}`}
                            disabled={saving}
                            onClick={() => void save({ [l.key]: null }, `${l.label} reset.`)}
                          >
                            Reset
                          </Button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </fieldset>
          );
        })}
        {notice ? <Notice message={notice.message} kind={notice.kind} /> : null}
        <div className="row">
          <Button type="submit" variant="primary" busy={saving} disabled={changed.length === 0}>
            Save limits
          </Button>
        </div>
      </form>
    </section>
  );
}

// Settings: provider API keys, personal API tokens, users and roles (admins), instance limits.
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { NavLink, Navigate, useParams } from "react-router-dom";
import { api, ApiError, errorMessage, ok, type Schemas } from "../api/client";
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
  formatDate,
} from "../components/ui";
import { LimitsSection } from "./settings/LimitsSection";

const SECTIONS = [
  { id: "keys", label: "Provider keys" },
  { id: "tokens", label: "API tokens" },
  { id: "users", label: "Users & roles" },
  { id: "limits", label: "Instance limits" },
] as const;
type Section = (typeof SECTIONS)[number]["id"];

/** Load something once (and on demand): the data, or its loading / error state. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    setError(null);
    try {
      setData(await run());
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [run]);
  useEffect(() => {
    setData(null);
    void reload();
  }, [reload]);
  return { data, setData, error, reload };
}

/** Renders `children(data)` once loaded; otherwise the loading / error state. */
export function Loaded<T>({
  state,
  label,
  children,
}: {
  state: { data: T | null; error: string | null; reload: () => Promise<void> };
  label: string;
  children: (data: T) => ReactNode;
}) {
  if (state.error) return <ErrorState error={state.error} onRetry={state.reload} />;
  if (state.data === null) return <LoadingState label={label} />;
  return <>{children(state.data)}</>;
}

export default function SettingsPage() {
  const { section } = useParams();
  if (!SECTIONS.some((s) => s.id === section)) return <Navigate to="/settings/keys" replace />;
  const current = section as Section;
  return (
    <div className="page">
      <PageHeader title="Settings" />
      <div className="settings-layout">
        <GlassPanel className="side-nav">
          <nav aria-label="Settings sections" className="stack" style={{ gap: 2 }}>
            {SECTIONS.map((s) => (
              <NavLink key={s.id} to={`/settings/${s.id}`} className="nav-link">
                {s.label}
              </NavLink>
            ))}
          </nav>
        </GlassPanel>
        <GlassPanel className="panel">
          {current === "keys" ? <KeysSection /> : null}
          {current === "tokens" ? <TokensSection /> : null}
          {current === "users" ? <UsersSection /> : null}
          {current === "limits" ? <LimitsSection /> : null}
        </GlassPanel>
      </div>
    </div>
  );
}

// --- provider keys -----------------------------------------------------------------------------

type ApiKey = Schemas["ApiKeyPublic"];

function KeysSection() {
  const { me } = useAuth();
  const keys = useLoad(() => ok(api.GET("/api/v1/users/api-keys")));
  const providers = useLoad(() => ok(api.GET("/api/v1/models/providers")));
  const keyed = (providers.data ?? []).filter((p) => p.kind !== "embedded");
  const [provider, setProvider] = useState("");
  const [name, setName] = useState("");
  const [secret, setSecret] = useState("");
  const [scope, setScope] = useState<"user" | "workspace" | "instance">("user");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<ApiKey | null>(null);
  const chosen = provider || keyed[0]?.name || "";

  async function add(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const created = await ok(
        api.POST("/api/v1/users/api-keys", {
          body: { provider: chosen, name: name.trim(), secret, scope },
        }),
      );
      keys.setData((prev) => [...(prev ?? []), created]);
      setName("");
      setSecret("");
      setNotice(
        created.verified
          ? `Key “${created.name}” added and verified with ${created.provider}.`
          : `Key “${created.name}” added; ${created.provider} could not be reached to verify it.`,
      );
    } catch (err) {
      setError({ message: errorMessage(err), field: err instanceof ApiError ? err.field : undefined });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="stack">
      <h2 id="keys-title">Provider API keys</h2>
      <p className="dim">
        Keys are stored encrypted and shown masked. Each one is checked with its provider when
        added; a key the provider rejects is refused.
      </p>
      <form className="form-grid" onSubmit={add}>
        <div className="field">
          <label htmlFor="select-provider">Provider</label>
          <select id="select-provider" value={chosen} onChange={(e) => setProvider(e.target.value)} required>
            {keyed.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <label className="field">
          <span>Name</span>
          <input
            value={name}
            required
            maxLength={100}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={error?.field === "name" || undefined}
          />
        </label>
        <label className="field">
          <span>Secret</span>
          <input
            type="password"
            autoComplete="off"
            value={secret}
            required
            onChange={(e) => setSecret(e.target.value)}
            aria-invalid={error?.field === "secret" || undefined}
          />
        </label>
        <div className="field">
          <label htmlFor="select-scope">Scope</label>
          <select id="select-scope" value={scope} onChange={(e) => setScope(e.target.value as typeof scope)}>
            <option value="user">Just me</option>
            {me?.role === "admin" ? <option value="workspace">This workspace</option> : null}
            {me?.user.is_admin ? <option value="instance">Whole instance</option> : null}
          </select>
        </div>
        <Button type="submit" variant="primary" busy={busy} disabled={!chosen}>
          Add key
        </Button>
      </form>
      {error ? <Notice message={error.message} kind="error" /> : null}
      {notice ? <Notice message={notice} /> : null}
      <Loaded state={keys} label="Loading keys">
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No provider keys yet">
              <p className="dim">The embedded local model needs no key.</p>
            </EmptyState>
          ) : (
            <ul className="list" aria-label="Saved keys">
              {list.map((k) => (
                <li key={k.id} className="list-row" data-testid="api-key-row">
                  <div className="list-main">
                    <div className="list-title">{k.name}</div>
                    <div className="list-sub">
                      {k.provider} · {k.scope} · added {formatDate(k.created_at)}
                    </div>
                  </div>
                  <code className="mono">{k.masked}</code>
                  <span className={`badge ${k.verified ? "badge-ok" : "badge-warn"}`}>
                    {k.verified ? "verified" : "not verified"}
                  </span>
                  <Button
                    className="btn-small"
                    variant="danger"
                    aria-label={`Delete ${k.name}`}
                    onClick={() => setDeleting(k)}
                  >
                    Delete
                  </Button>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <ConfirmDeleteDialog
        name={deleting?.name ?? ""}
        open={deleting !== null}
        detail="Runs that use this key will fail until another key is added."
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await ok(
            api.DELETE("/api/v1/users/api-keys/{key_id}", {
              params: { path: { key_id: deleting.id } },
            }),
          );
          keys.setData((prev) => (prev ?? []).filter((k) => k.id !== deleting.id));
          setDeleting(null);
        }}
      />
    </section>
  );
}

// --- API tokens --------------------------------------------------------------------------------

type Token = Schemas["TokenPublic"];

function TokensSection() {
  const tokens = useLoad(() => ok(api.GET("/api/v1/auth/tokens")));
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Schemas["TokenCreated"] | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const [copied, setCopied] = useState(false);

  async function create(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setCopied(false);
    try {
      const token = await ok(
        api.POST("/api/v1/auth/tokens", {
          body: { name: name.trim(), expires_in_days: days ? Number(days) : null },
        }),
      );
      setCreated(token);
      tokens.setData((prev) => [...(prev ?? []), token]);
      setName("");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="stack">
      <h2 id="tokens-title">API tokens</h2>
      <p className="dim">
        Tokens let scripts call the API as you: send <code>Authorization: Bearer nx_…</code>.
      </p>
      <form className="form-grid" onSubmit={create}>
        <label className="field">
          <span>Token name</span>
          <input value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} />
        </label>
        <div className="field">
          <label htmlFor="select-expires">Expires</label>
          <select id="select-expires" value={days} onChange={(e) => setDays(e.target.value)}>
            <option value="">Never</option>
            <option value="7">In 7 days</option>
            <option value="30">In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In a year</option>
          </select>
        </div>
        <Button type="submit" variant="primary" busy={busy}>
          Create token
        </Button>
      </form>
      {error ? <Notice message={error} kind="error" /> : null}
      {created ? (
        <div className="stack notice" role="status">
          <strong>Token “{created.name}” created. Copy it now: it is not shown again.</strong>
          <div className="secret-box" data-testid="new-token">
            {created.token}
          </div>
          <div className="row">
            <Button
              className="btn-small"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(created.token);
                  setCopied(true);
                } catch {
                  setCopied(false);
                }
              }}
            >
              {copied ? "Copied" : "Copy token"}
            </Button>
            <Button className="btn-small btn-ghost" onClick={() => setCreated(null)}>
              Done
            </Button>
          </div>
        </div>
      ) : null}
      <Loaded state={tokens} label="Loading tokens">
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No API tokens yet" />
          ) : (
            <ul className="list" aria-label="API tokens">
              {list.map((t) => (
                <li key={t.id} className="list-row" data-testid="token-row">
                  <div className="list-main">
                    <div className="list-title">{t.name}</div>
                    <div className="list-sub">
                      <span className="mono">{t.prefix}…</span> · created {formatDate(t.created_at)}
                      {" · "}last used {t.last_used_at ? formatDate(t.last_used_at) : "never"}
                      {" · "}expires {t.expires_at ? formatDate(t.expires_at) : "never"}
                    </div>
                  </div>
                  {t.revoked ? (
                    <span className="badge badge-bad">revoked</span>
                  ) : (
                    <Button
                      className="btn-small"
                      variant="danger"
                      aria-label={`Revoke ${t.name}`}
                      onClick={() => setRevoking(t)}
                    >
                      Revoke
                    </Button>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <ConfirmDeleteDialog
        name={revoking?.name ?? ""}
        open={revoking !== null}
        detail="Scripts using this token stop working at once."
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          if (!revoking) return;
          await ok(
            api.DELETE("/api/v1/auth/tokens/{token_id}", {
              params: { path: { token_id: revoking.id } },
            }),
          );
          tokens.setData((prev) =>
            (prev ?? []).map((t) => (t.id === revoking.id ? { ...t, revoked: true } : t)),
          );
          setRevoking(null);
        }}
      />
    </section>
  );
}

// --- users and roles ---------------------------------------------------------------------------

const ROLES = ["admin", "developer", "viewer"] as const;
type RoleName = (typeof ROLES)[number];

function SignupToggle() {
  const { signupOpen, refresh } = useAuth();
  const [open, setOpen] = useState(signupOpen); // shown at once; reverted if refused
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="stack">
      <label className="check">
        <input
          type="checkbox"
          checked={open}
          disabled={busy}
          onChange={async (e) => {
            const next = e.target.checked;
            setOpen(next);
            setBusy(true);
            setError(null);
            try {
              const status = await ok(api.PUT("/api/v1/auth/signup-open", { body: { open: next } }));
              setOpen(status.signup_open);
              await refresh();
            } catch (err) {
              setOpen(!next);
              setError(errorMessage(err));
            } finally {
              setBusy(false);
            }
          }}
        />
        <span>Allow self-service sign-up (new accounts join the first workspace as developers)</span>
      </label>
      {error ? <Notice message={error} kind="error" /> : null}
    </div>
  );
}

function UsersSection() {
  const { me } = useAuth();
  const workspaceId = me?.workspace_id ?? "";
  const workspace = me?.workspaces.find((w) => w.id === workspaceId);
  const isInstanceAdmin = me?.user.is_admin ?? false;
  const isWorkspaceAdmin = me?.role === "admin";
  const members = useLoad(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{workspace_id}/members", {
          params: { path: { workspace_id: workspaceId } },
        }),
      ),
    [workspaceId],
  );
  const users = useLoad(
    () => (isInstanceAdmin ? ok(api.GET("/api/v1/users")) : Promise.resolve([])),
    [isInstanceAdmin],
  );
  const [notice, setNotice] = useState<{ message: string; kind: "info" | "error" } | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<RoleName>("developer");
  const [busy, setBusy] = useState(false);

  if (!isWorkspaceAdmin && !isInstanceAdmin) {
    return (
      <section className="stack">
        <h2>Users &amp; roles</h2>
        <EmptyState title="Administrators only">
          <p className="dim">Ask an administrator of this workspace to change roles.</p>
        </EmptyState>
      </section>
    );
  }

  const activeById = new Map((users.data ?? []).map((u) => [u.id, u]));

  async function changeRole(userId: string, who: string, next: RoleName) {
    setNotice(null);
    try {
      const updated = await ok(
        api.PUT("/api/v1/workspaces/{workspace_id}/members/{user_id}", {
          params: { path: { workspace_id: workspaceId, user_id: userId } },
          body: { role: next },
        }),
      );
      members.setData((prev) => (prev ?? []).map((m) => (m.user_id === userId ? updated : m)));
      setNotice({ message: `${who} is now ${next}.`, kind: "info" });
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    }
  }

  async function setActive(userId: string, who: string, active: boolean) {
    setNotice(null);
    try {
      const updated = await ok(
        api.PATCH("/api/v1/users/{user_id}", {
          params: { path: { user_id: userId } },
          body: { is_active: active },
        }),
      );
      users.setData((prev) => (prev ?? []).map((u) => (u.id === userId ? updated : u)));
      setNotice({ message: `${who} ${active ? "re-activated" : "deactivated"}.`, kind: "info" });
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    }
  }

  async function addUser(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setNotice(null);
    try {
      if (isInstanceAdmin) {
        await ok(
          api.POST("/api/v1/users", {
            body: {
              email: email.trim(),
              password,
              role,
              workspace: workspace?.name ?? null,
              is_admin: false,
            },
          }),
        );
      } else {
        await ok(
          api.POST("/api/v1/workspaces/{workspace_id}/members", {
            params: { path: { workspace_id: workspaceId } },
            body: { email: email.trim(), role },
          }),
        );
      }
      setNotice({ message: `${email.trim()} added as ${role}.`, kind: "info" });
      setEmail("");
      setPassword("");
      await Promise.all([members.reload(), users.reload()]);
    } catch (err) {
      setNotice({ message: errorMessage(err), kind: "error" });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="stack">
      <h2 id="users-title">Users &amp; roles{workspace ? ` — ${workspace.name}` : ""}</h2>
      {isInstanceAdmin ? <SignupToggle /> : null}
      <form className="form-grid" onSubmit={addUser} aria-label="Add a user">
        <label className="field">
          <span>New user email</span>
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        {isInstanceAdmin ? (
          <label className="field">
            <span>Initial password</span>
            <input
              type="password"
              autoComplete="new-password"
              required
              minLength={10}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
        ) : null}
        <div className="field">
          <label htmlFor="select-new-user-role">New user role</label>
          <select id="select-new-user-role" value={role} onChange={(e) => setRole(e.target.value as RoleName)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <Button type="submit" variant="primary" busy={busy}>
          {isInstanceAdmin ? "Add user" : "Add member"}
        </Button>
      </form>
      {notice ? <Notice message={notice.message} kind={notice.kind} /> : null}
      <Loaded state={members} label="Loading members">
        {(list) =>
          list.length === 0 ? (
            <EmptyState title="No members" />
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                  {isInstanceAdmin ? <th scope="col">Account</th> : null}
                </tr>
              </thead>
              <tbody>
                {list.map((m) => {
                  const account = activeById.get(m.user_id);
                  const self = m.user_id === me?.user.id;
                  return (
                    <tr key={m.user_id} data-testid="user-row">
                      <td>
                        {m.email}
                        {account?.is_admin ? (
                          <span className="badge badge-accent" style={{ marginLeft: 8 }}>
                            instance admin
                          </span>
                        ) : null}
                      </td>
                      <td>
                        <select
                          aria-label={`Role for ${m.email}`}
                          value={m.role}
                          disabled={self}
                          title={self ? "You cannot change your own role" : undefined}
                          onChange={(e) => void changeRole(m.user_id, m.email, e.target.value as RoleName)}
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      </td>
                      <td>{formatDate(m.joined_at)}</td>
                      {isInstanceAdmin ? (
                        <td>
                          {account ? (
                            <div className="row">
                              <span className={`badge ${account.is_active ? "badge-ok" : "badge-bad"}`}>
                                {account.is_active ? "active" : "deactivated"}
                              </span>
                              {self ? null : (
                                <Button
                                  className="btn-small"
                                  aria-label={`${account.is_active ? "Deactivate" : "Activate"} ${m.email}`}
                                  onClick={() => void setActive(m.user_id, m.email, !account.is_active)}
                                >
                                  {account.is_active ? "Deactivate" : "Activate"}
                                </Button>
                              )}
                            </div>
                          ) : (
                            "—"
                          )}
                        </td>
                      ) : null}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}

// Chat with any agent: pick the agent, continue a kept session or start a new one.
import { useCallback, useEffect, useMemo, useState } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, errorMessage, ok, type Schemas } from "../api/client";
import { AgentChat } from "../chat/AgentChat";
import { Button, EmptyState, ErrorState, GlassPanel, LoadingState, PageHeader } from "../components/ui";
import { fetchAgents } from "./AgentsPage";

type Agent = Schemas["AgentPublic"];
type SessionSummary = Schemas["ChatSessionPublic"];

/** The caller's chat sessions with the agent, most recently active first (the 100 latest). */
async function fetchSessions(agentId: string): Promise<SessionSummary[]> {
  const page = await ok(
    api.GET("/api/v1/agents/{agent_id}/sessions", {
      params: { path: { agent_id: agentId }, query: { limit: 100 } },
    }),
  );
  return page.items;
}

export default function ChatPage() {
  const { agentId } = useParams();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const sessionId = params.get("session") ?? undefined;
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [agentsError, setAgentsError] = useState<string | null>(null);
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [sessionsError, setSessionsError] = useState<string | null>(null);
  const [chatKey, setChatKey] = useState(0);

  const loadAgents = useCallback(async () => {
    setAgentsError(null);
    try {
      setAgents(await fetchAgents("all"));
    } catch (err) {
      setAgentsError(errorMessage(err));
    }
  }, []);
  useEffect(() => {
    void loadAgents();
  }, [loadAgents]);

  const loadSessions = useCallback(async () => {
    if (!agentId) return;
    setSessionsError(null);
    try {
      setSessions(await fetchSessions(agentId));
    } catch (err) {
      setSessionsError(errorMessage(err));
    }
  }, [agentId]);
  useEffect(() => {
    setSessions(null);
    void loadSessions();
  }, [loadSessions]);

  const sorted = useMemo(
    () => [...(agents ?? [])].sort((a, b) => a.name.localeCompare(b.name)),
    [agents],
  );

  const onRunFinished = useCallback(
    (finished: string) => {
      void loadSessions();
      if (finished !== sessionId) setParams({ session: finished }, { replace: true });
    },
    [loadSessions, sessionId, setParams],
  );

  return (
    <div className="page" style={{ maxWidth: 1400 }}>
      <PageHeader title="Chat">
        <div className="row">
          <label htmlFor="select-agent">Agent</label>
          <select id="select-agent"
            value={agentId ?? ""}
            disabled={agents === null}
            onChange={(e) => navigate(e.target.value ? `/chat/${e.target.value}` : "/chat")}
          >
            <option value="">Choose an agent…</option>
            {sorted.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </div>
        <Button
          disabled={!agentId}
          onClick={() => {
            setParams({}, { replace: false });
            setChatKey((k) => k + 1);
          }}
        >
          New session
        </Button>
      </PageHeader>
      {agentsError ? <ErrorState error={agentsError} onRetry={loadAgents} /> : null}
      {!agentId ? (
        <GlassPanel>
          {agents === null && !agentsError ? (
            <LoadingState label="Loading agents" />
          ) : sorted.length === 0 ? (
            <EmptyState title="No agents yet">
              <p className="dim">Create an agent first, then chat with it here.</p>
            </EmptyState>
          ) : (
            <EmptyState title="Choose an agent to chat with" />
          )}
        </GlassPanel>
      ) : (
        <div className="chat-layout">
          <GlassPanel className="session-list" role="region" aria-label="Sessions">
            <h2>Sessions</h2>
            {sessionsError ? (
              <ErrorState error={sessionsError} onRetry={loadSessions} />
            ) : sessions === null ? (
              <LoadingState label="Loading sessions" />
            ) : sessions.length === 0 ? (
              <p className="dim">No sessions yet.</p>
            ) : (
              <ul className="list stack" style={{ gap: 4 }}>
                {sessions.map((s) => (
                  <li key={s.id}>
                    <button
                      className="session-item"
                      data-testid="session-item"
                      aria-current={s.id === sessionId ? "true" : undefined}
                      onClick={() => setParams({ session: s.id })}
                    >
                      <div className="list-title" style={{ overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>
                        {s.title || "(empty)"}
                      </div>
                      <div className="list-sub">
                        {new Date(s.last_at).toLocaleString()} · {s.runs} message{s.runs === 1 ? "" : "s"}
                      </div>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </GlassPanel>
          <GlassPanel className="chat-panel" role="region" aria-label="Chat panel">
            <AgentChat key={chatKey} agentId={agentId} sessionId={sessionId} onRunFinished={onRunFinished} />
          </GlassPanel>
        </div>
      )}
    </div>
  );
}

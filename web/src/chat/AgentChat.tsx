// <AgentChat agentId sessionId? />: chat with a stored agent over the streamed run endpoint.
// Tokens grow the assistant's message in place; tool calls and handoffs show inline.
import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { api, errorMessage, ok, rawFetch } from "../api/client";
import { Button, LoadingState } from "../components/ui";
import { newSessionId, readEventStream, type StreamEvent } from "./sse";
import { applyEvent, userItem, type ChatItem } from "./transcript";

/** Rebuild a session's transcript from its stored runs (oldest first, at most `max`). */
async function loadSession(agentId: string, sessionId: string, max = 30): Promise<ChatItem[]> {
  const page = await ok(
    api.GET("/api/v1/runs", { params: { query: { agent_id: agentId, limit: 100 } } }),
  );
  const runs = page.items
    .filter((r) => r.session_id === sessionId)
    .sort((a, b) => a.created_at.localeCompare(b.created_at))
    .slice(-max);
  let items: ChatItem[] = [];
  for (const run of runs) {
    const input = (run.input as { input?: unknown }).input;
    items = [...items, userItem(typeof input === "string" ? input : JSON.stringify(input))];
    const events = await ok(
      api.GET("/api/v1/runs/{run_id}/events/list", { params: { path: { run_id: run.id } } }),
    );
    for (const e of events) {
      items = applyEvent(items, { run_id: run.id, seq: e.seq, type: e.type, data: e.data });
    }
  }
  return items;
}

export function AgentChat({
  agentId,
  sessionId,
  onRunFinished,
  disabledReason,
}: {
  agentId: string;
  /** Continue this stored session; without it the chat starts a fresh one (kept while mounted). */
  sessionId?: string;
  /** Called after each run ends, with the session it belongs to. */
  onRunFinished?: (sessionId: string) => void;
  /** When set, sending is disabled and this is shown instead. */
  disabledReason?: string;
}) {
  const [items, setItems] = useState<ChatItem[]>([]);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [input, setInput] = useState("");
  const [runId, setRunId] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const session = useRef<string>(sessionId ?? newSessionId());
  const abort = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  /** `agentId|sessionId` of the conversation on screen (so adopting our own session id after
   * its first run does not reload what is already shown). */
  const shown = useRef<string | null>(null);

  // A different agent or session: load that conversation (or start empty).
  useEffect(() => {
    if (sessionId && shown.current === `${agentId}|${sessionId}`) return;
    abort.current?.abort();
    session.current = sessionId ?? newSessionId();
    shown.current = `${agentId}|${session.current}`;
    setItems([]);
    setLoadError(null);
    if (!sessionId) return;
    let cancelled = false;
    setLoading(true);
    loadSession(agentId, sessionId)
      .then((loaded) => {
        if (!cancelled) setItems(loaded);
      })
      .catch((err) => {
        if (!cancelled) setLoadError(errorMessage(err));
      })
      .finally(() => {
        if (!cancelled) setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [agentId, sessionId]);

  useEffect(() => () => abort.current?.abort(), []);

  // Keep the newest message in view unless the reader scrolled up.
  useEffect(() => {
    const el = log.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [items]);

  const send = useCallback(
    async (text: string) => {
      const controller = new AbortController();
      abort.current = controller;
      setSending(true);
      stick.current = true;
      setItems((prev) => [...prev, userItem(text)]);
      const sessionOfRun = session.current;
      try {
        const response = await rawFetch(`/api/v1/agents/${encodeURIComponent(agentId)}/run`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify({ input: text, stream: true, session_id: sessionOfRun }),
          signal: controller.signal,
        });
        if (!response.body) throw new Error("the server sent no stream");
        for await (const event of readEventStream(response.body)) {
          if (event.type === "run_started") setRunId(event.run_id);
          setItems((prev) => applyEvent(prev, event as StreamEvent));
          if (event.type === "run_completed") break;
        }
      } catch (err) {
        if (!controller.signal.aborted) {
          setItems((prev) => [...prev, { kind: "error", id: `err-${Date.now()}`, text: errorMessage(err) }]);
        }
      } finally {
        setSending(false);
        setRunId(null);
        abort.current = null;
        onRunFinished?.(sessionOfRun);
      }
    },
    [agentId, onRunFinished],
  );

  async function stop() {
    const current = runId;
    abort.current?.abort();
    if (current) {
      try {
        await ok(api.POST("/api/v1/runs/{run_id}/cancel", { params: { path: { run_id: current } } }));
      } catch {
        /* it may have finished meanwhile */
      }
    }
    setItems((prev) =>
      applyEvent(prev, {
        run_id: current ?? "",
        seq: 0,
        type: "run_completed",
        data: { status: "cancelled", error: { message: "Stopped." } },
      }),
    );
  }

  function submit(event?: FormEvent) {
    event?.preventDefault();
    const text = input.trim();
    if (!text || sending || disabledReason) return;
    setInput("");
    void send(text);
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  return (
    <div className="chat">
      <div
        ref={log}
        className="chat-log"
        role="log"
        aria-live="polite"
        aria-label="Conversation"
        aria-busy={sending}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {loading ? <LoadingState label="Loading conversation" /> : null}
        {loadError ? <div className="chat-error" role="alert">{loadError}</div> : null}
        {!loading && items.length === 0 && !loadError ? (
          <p className="dim" style={{ textAlign: "center", marginTop: 32 }}>
            {disabledReason ?? "Say something to start the conversation."}
          </p>
        ) : null}
        {items.map((item) => (
          <ChatEntry key={item.id} item={item} />
        ))}
        {sending && !items.some((i) => i.kind === "assistant" && i.streaming) ? (
          <div className="dim" role="status">
            <span className="spinner" aria-hidden="true" /> Thinking…
          </div>
        ) : null}
      </div>
      <form className="chat-input" onSubmit={submit}>
        <label className="visually-hidden" htmlFor={`chat-input-${agentId}`}>
          Message
        </label>
        <textarea
          id={`chat-input-${agentId}`}
          rows={2}
          placeholder={disabledReason ?? "Message (Enter to send, Shift+Enter for a new line)"}
          value={input}
          disabled={Boolean(disabledReason)}
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={onKeyDown}
        />
        {sending ? (
          <Button type="button" variant="danger" onClick={() => void stop()}>
            Stop
          </Button>
        ) : null}
        <Button type="submit" variant="primary" disabled={sending || Boolean(disabledReason)}>
          Send
        </Button>
      </form>
    </div>
  );
}

function ChatEntry({ item }: { item: ChatItem }) {
  switch (item.kind) {
    case "user":
      return (
        <div className="chat-msg chat-user" data-testid="chat-message-user">
          {item.text}
        </div>
      );
    case "assistant":
      // The testid element holds the reply text only (it grows in place while streaming).
      return (
        <div className="chat-assistant-wrap">
          {item.agent ? <div className="chat-meta">{item.agent}</div> : null}
          <div
            className={`chat-msg chat-assistant ${item.streaming ? "cursor" : ""}`}
            data-testid="chat-message-assistant"
            data-streaming={item.streaming || undefined}
          >
            {item.text}
          </div>
        </div>
      );
    case "tool":
      return (
        <details className="chat-event" data-testid="chat-tool-call">
          <summary>
            tool {item.tool}({item.arguments.length > 80 ? `${item.arguments.slice(0, 80)}…` : item.arguments})
            {item.output === undefined ? " …" : " ✓"}
          </summary>
          <div>arguments: {item.arguments}</div>
          {item.output !== undefined ? <div>output: {item.output}</div> : null}
        </details>
      );
    case "handoff":
      return (
        <div className="chat-event" data-testid="chat-handoff">
          handoff: {item.from} → {item.to}
        </div>
      );
    case "error":
      return (
        <div className="chat-error" role="alert">
          {item.text}
        </div>
      );
  }
}

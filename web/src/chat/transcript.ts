// A chat transcript built from agent-run events: the same reducer serves live streams and
// replays of stored runs (GET /api/v1/runs/{id}/events/list).
import type { StreamEvent } from "./sse";

export type ChatItem =
  | { kind: "user"; id: string; text: string }
  | { kind: "assistant"; id: string; text: string; agent?: string; streaming: boolean }
  | {
      kind: "tool";
      id: string;
      tool: string;
      arguments: string;
      output?: string;
      callId?: string;
      agent?: string;
    }
  | { kind: "handoff"; id: string; from: string; to: string }
  | { kind: "error"; id: string; text: string };

let counter = 0;
const nextId = () => `item-${++counter}`;

export function userItem(text: string): ChatItem {
  return { kind: "user", id: nextId(), text };
}

function str(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** The open (still streaming) assistant message of this run, if the last item is one. */
function openAssistant(items: ChatItem[]): number {
  const last = items.length - 1;
  return last >= 0 && items[last].kind === "assistant" && items[last].streaming ? last : -1;
}

function closeOpen(items: ChatItem[]): ChatItem[] {
  const open = openAssistant(items);
  if (open < 0) return items;
  const copy = items.slice();
  const item = copy[open] as Extract<ChatItem, { kind: "assistant" }>;
  copy[open] = { ...item, streaming: false };
  return copy;
}

/** Apply one run event to the transcript (returns a new array; never mutates). */
export function applyEvent(items: ChatItem[], event: StreamEvent): ChatItem[] {
  const data = event.data ?? {};
  switch (event.type) {
    case "token": {
      const delta = str(data.delta);
      const open = openAssistant(items);
      if (open < 0) {
        return [...items, { kind: "assistant", id: nextId(), text: delta, streaming: true }];
      }
      const copy = items.slice();
      const item = copy[open] as Extract<ChatItem, { kind: "assistant" }>;
      copy[open] = { ...item, text: item.text + delta };
      return copy;
    }
    case "message": {
      // The complete text of a model message: it replaces what the tokens built up.
      const text = str(data.text);
      const open = openAssistant(items);
      const agent = data.agent ? String(data.agent) : undefined;
      if (open < 0) {
        return [...items, { kind: "assistant", id: nextId(), text, agent, streaming: false }];
      }
      const copy = items.slice();
      copy[open] = { kind: "assistant", id: copy[open].id, text, agent, streaming: false };
      return copy;
    }
    case "tool_called":
      return [
        ...closeOpen(items),
        {
          kind: "tool",
          id: nextId(),
          tool: str(data.tool) || "tool",
          arguments: str(data.arguments),
          callId: data.call_id ? String(data.call_id) : undefined,
          agent: data.agent ? String(data.agent) : undefined,
        },
      ];
    case "tool_output": {
      const callId = data.call_id ? String(data.call_id) : undefined;
      const copy = items.slice();
      for (let i = copy.length - 1; i >= 0; i--) {
        const item = copy[i];
        if (item.kind === "tool" && item.output === undefined && (!callId || item.callId === callId)) {
          copy[i] = { ...item, output: str(data.output) };
          return copy;
        }
      }
      return copy;
    }
    case "handoff":
      return [
        ...closeOpen(items),
        { kind: "handoff", id: nextId(), from: str(data.from), to: str(data.to) },
      ];
    case "guardrail_tripped":
      return [
        ...closeOpen(items),
        {
          kind: "error",
          id: nextId(),
          text: `Blocked by the ${str(data.stage) || ""} guardrail ${str(data.guardrail)}: ${str(data.reason)}`,
        },
      ];
    case "run_failed":
      return [
        ...closeOpen(items),
        { kind: "error", id: nextId(), text: str(data.message) || "The run failed." },
      ];
    case "run_completed": {
      let next = closeOpen(items);
      const status = str(data.status);
      const output = data.output;
      // A structured (object) output never streamed as text: show it as the reply.
      const lastReply = [...next].reverse().find((i) => i.kind !== "tool" && i.kind !== "handoff");
      if (status === "succeeded" && output !== null && typeof output === "object") {
        next = [...next, { kind: "assistant", id: nextId(), text: str(output), streaming: false }];
      } else if (status === "succeeded" && (!lastReply || lastReply.kind === "user") && output) {
        next = [...next, { kind: "assistant", id: nextId(), text: str(output), streaming: false }];
      } else if (status !== "succeeded" && lastReply?.kind !== "error") {
        const error = data.error as { message?: string } | null | undefined;
        next = [...next, { kind: "error", id: nextId(), text: error?.message ?? `Run ${status}.` }];
      }
      return next;
    }
    default:
      return items;
  }
}

// Live events of one run: first the stored events (one JSON request, fast for replays), then
// the WebSocket `/ws` (subscribe with after_seq), or SSE `/api/v1/runs/{id}/events` when the
// socket is unavailable. Reconnects resume after the last seq seen; events are delivered once,
// in seq order (a gap is filled from the stored list before anything after it is delivered).
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, errorMessage, rawFetch } from "../../api/client";
import { EVENT_TYPES, toRunEvent, type RunEvent } from "./events";

export type Transport = "ws" | "sse";
export type StreamPhase = "idle" | "loading" | "live" | "reconnecting" | "ended" | "error";

export interface RunEventsState {
  phase: StreamPhase;
  transport: Transport | null;
  error: string | null;
}

type StreamEnd = "closed" | "unavailable";

interface Stream {
  done: Promise<StreamEnd>;
  close: () => void;
}

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];
const RESUME_POLL_MS = 400;
const RESUME_TRIES = 25;
const WS_PING_MS = 25_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function fetchStored(runId: string, after: number, signal: AbortSignal): Promise<RunEvent[]> {
  const response = await rawFetch(
    `/api/v1/runs/${encodeURIComponent(runId)}/events/list?after=${after}`,
    { signal },
  );
  const body: unknown = await response.json();
  return (Array.isArray(body) ? body : []).map(toRunEvent).filter((e): e is RunEvent => e !== null);
}

function openWebSocket(runId: string, afterSeq: number, onEvent: (e: RunEvent) => void): Stream {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws`);
  let subscribed = false;
  let ping: ReturnType<typeof setInterval> | undefined;
  let settle: (end: StreamEnd) => void = () => {};
  const done = new Promise<StreamEnd>((resolve) => {
    settle = (end) => {
      clearInterval(ping);
      resolve(end);
    };
  });
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "subscribe", run_id: runId, after_seq: afterSeq, id: "run" }));
    ping = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, WS_PING_MS);
  };
  socket.onmessage = (message) => {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(String(message.data));
    } catch {
      return;
    }
    if (frame.type === "subscribed") {
      subscribed = true;
    } else if (frame.type === "event" && frame.run_id === runId) {
      subscribed = true;
      const event = toRunEvent(frame);
      if (event) onEvent(event);
    } else if (frame.type === "unsubscribed" && frame.run_id === runId) {
      socket.close(1000);
      settle("closed");
    } else if (frame.type === "error" && !subscribed) {
      // e.g. an unknown message type on an older server: use SSE instead.
      socket.close(1000);
      settle("unavailable");
    }
  };
  socket.onerror = () => {
    /* onclose follows */
  };
  socket.onclose = () => settle(subscribed ? "closed" : "unavailable");
  return {
    done,
    close: () => {
      socket.onclose = null;
      socket.close(1000);
      settle("closed");
    },
  };
}

function openEventSource(runId: string, afterSeq: number, onEvent: (e: RunEvent) => void): Stream {
  const source = new EventSource(
    `/api/v1/runs/${encodeURIComponent(runId)}/events?after=${afterSeq}`,
    { withCredentials: true },
  );
  let opened = false;
  let settle: (end: StreamEnd) => void = () => {};
  const done = new Promise<StreamEnd>((resolve) => {
    settle = resolve;
  });
  source.onopen = () => {
    opened = true;
  };
  const listener = (message: MessageEvent) => {
    let event: RunEvent | null = null;
    try {
      event = toRunEvent(JSON.parse(String(message.data)));
    } catch {
      return;
    }
    if (!event) return;
    onEvent(event);
    if (event.type === "run_completed") {
      // The server ends the stream here; EventSource would reconnect from the same ?after=.
      source.close();
      settle("closed");
    }
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, listener);
  source.onerror = () => {
    source.close();
    settle(opened ? "closed" : "unavailable");
  };
  return {
    done,
    close: () => {
      source.close();
      settle("closed");
    },
  };
}

/**
 * Follow `runId`. `onEvents(runId, events)` receives each new event exactly once, in order,
 * batched per animation frame (token streams re-render at most once a frame).
 * `resume()` says more events are coming after the run ended (retry from the failed node).
 */
export function useRunEvents(
  runId: string | null,
  onEvents: (runId: string, events: RunEvent[]) => void,
): RunEventsState & { resume: () => void } {
  const [state, setState] = useState<RunEventsState>({ phase: "idle", transport: null, error: null });
  const onEventsRef = useRef(onEvents);
  onEventsRef.current = onEvents;
  const wakeRef = useRef<(() => void) | null>(null);
  const expectMoreRef = useRef(false);

  const resume = useCallback(() => {
    expectMoreRef.current = true;
    wakeRef.current?.();
  }, []);

  useEffect(() => {
    if (runId === null) {
      setState({ phase: "idle", transport: null, error: null });
      return;
    }
    const id = runId;
    const abort = new AbortController();
    const signal = abort.signal;
    let lastSeq = 0;
    let lastType = "";
    let stream: Stream | null = null;
    let pending: RunEvent[] = [];
    let frame: number | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let chain: Promise<void> = Promise.resolve();
    let wsFailures = 0;

    const flush = () => {
      if (frame !== null) cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
      frame = timer = null;
      if (signal.aborted || pending.length === 0) return;
      const batch = pending;
      pending = [];
      onEventsRef.current(id, batch);
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(flush);
      if (timer === null) timer = setTimeout(flush, 100); // hidden tabs get no frames
    };
    /** Accept events in seq order; fill a gap from the stored list first. */
    const accept = async (events: RunEvent[]) => {
      for (const event of events) {
        if (signal.aborted) return;
        if (event.seq <= lastSeq) continue;
        if (event.seq > lastSeq + 1) {
          const missing = await fetchStored(id, lastSeq, signal).catch(() => [] as RunEvent[]);
          for (const m of missing) {
            if (m.seq <= lastSeq || m.seq >= event.seq) continue;
            pending.push(m);
            lastSeq = m.seq;
            lastType = m.type;
          }
          if (event.seq <= lastSeq) continue;
        }
        pending.push(event);
        lastSeq = event.seq;
        lastType = event.type;
        expectMoreRef.current = false;
      }
      schedule();
    };
    const receive = (event: RunEvent) => {
      chain = chain.then(() => accept([event]));
    };
    const waitForResume = () =>
      new Promise<void>((resolve) => {
        wakeRef.current = () => {
          wakeRef.current = null;
          resolve();
        };
        signal.addEventListener("abort", () => resolve());
      });

    const run = async () => {
      setState({ phase: "loading", transport: null, error: null });
      let failures = 0;
      let resumeTries = 0;
      while (!signal.aborted) {
        try {
          // Catch up from the store in one request (a replay of a past run ends here).
          await (chain = chain.then(async () => accept(await fetchStored(id, lastSeq, signal))));
          flush();
          if (lastType === "run_completed" && !expectMoreRef.current) {
            setState((s) => ({ ...s, phase: "ended", error: null }));
            await waitForResume();
            resumeTries = 0;
            continue;
          }
          const useWs = typeof WebSocket !== "undefined" && wsFailures < 2;
          const transport: Transport = useWs ? "ws" : "sse";
          const before = lastSeq;
          stream = useWs ? openWebSocket(id, lastSeq, receive) : openEventSource(id, lastSeq, receive);
          setState({ phase: "live", transport, error: null });
          const end = await stream.done;
          stream = null;
          await chain;
          flush();
          if (signal.aborted) return;
          if (end === "unavailable" && useWs) wsFailures += 1;
          if (lastSeq > before) failures = 0;
          if (lastType === "run_completed" && !expectMoreRef.current) continue;
          if (expectMoreRef.current && lastSeq === before) {
            // Retry was accepted but its first events are not written yet: look again soon.
            resumeTries += 1;
            if (resumeTries > RESUME_TRIES) expectMoreRef.current = false;
            await sleep(RESUME_POLL_MS, signal);
            continue;
          }
          setState((s) => ({ ...s, phase: "reconnecting" }));
          await sleep(RECONNECT_DELAYS_MS[Math.min(failures, RECONNECT_DELAYS_MS.length - 1)], signal);
          failures += 1;
        } catch (error) {
          if (signal.aborted) return;
          setState({ phase: "error", transport: null, error: errorMessage(error) });
          if (error instanceof ApiError && [401, 403, 404].includes(error.status)) {
            // Not visible (or signed out): retrying will not help until something changes.
            await waitForResume();
            continue;
          }
          await sleep(RECONNECT_DELAYS_MS[Math.min(failures, RECONNECT_DELAYS_MS.length - 1)], signal);
          failures += 1;
        }
      }
    };
    void run();
    return () => {
      abort.abort();
      stream?.close();
      wakeRef.current = null;
      if (frame !== null) cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
    };
  }, [runId]);

  return { ...state, resume };
}

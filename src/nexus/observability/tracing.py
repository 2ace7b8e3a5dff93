"""Keep the Agents SDK's spans for our own store instead of exporting them to OpenAI.

``install()`` replaces the SDK's processors (so nothing is sent to OpenAI) with one
``SpanCollector`` that buffers finished spans by trace id; the run worker takes a run's spans
when the run ends and writes them in one batch.
"""

from __future__ import annotations

import threading
from typing import Any

from agents.tracing import TracingProcessor, set_trace_processors

MAX_SPANS_PER_TRACE = 2_000


def trace_id_for(run_id: str) -> str:
    """The SDK wants ``trace_<32 alphanumerics>``; derive it from the run id."""
    body = "".join(c for c in run_id if c.isalnum())
    return "trace_" + body[-32:].rjust(32, "0")


class SpanCollector(TracingProcessor):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[str, list[dict[str, Any]]] = {}

    def on_trace_start(self, trace: Any) -> None:
        with self._lock:
            self._spans.setdefault(trace.trace_id, [])

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        exported = span.export()
        if exported is None:
            return
        with self._lock:
            spans = self._spans.get(span.trace_id)
            if spans is not None and len(spans) < MAX_SPANS_PER_TRACE:
                spans.append(exported)

    def take(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._spans.pop(trace_id, [])

    def shutdown(self) -> None:
        with self._lock:
            self._spans.clear()

    def force_flush(self) -> None:
        pass


_collector: SpanCollector | None = None


def install() -> SpanCollector:
    """Route every SDK span to the process-wide collector (idempotent)."""
    global _collector
    if _collector is None:
        _collector = SpanCollector()
        set_trace_processors([_collector])
    return _collector

"""Execute one compiled agent run through the SDK's streamed run loop, emitting Nexus events.

The streamed loop is used for every run (a client that does not stream just waits for the end),
so plain and streaming requests share one path. The caller owns the run's row and its final
``run_completed`` event; this module turns SDK stream events into ours and the outcome into a
status, output, error and usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    OutputGuardrailTripwireTriggered,
    RunConfig,
    RunHooks,
    Runner,
)
from agents.items import (
    ItemHelpers,
    MessageOutputItem,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.memory import Session
from agents.stream_events import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
)

from nexus.agents.compiler import CompiledAgents
from nexus.agents.guardrails import tripwire_details
from nexus.core import events as ev
from nexus.core.errors import NexusError
from nexus.core.events import EventSink
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage

MAX_EVENT_TEXT = 20_000


@dataclass
class AgentRunOutcome:
    status: RunStatus
    output: Any = None
    error: dict[str, Any] | None = None
    usage: RunUsage = field(default_factory=RunUsage)


class _UsageHooks(RunHooks[Any]):
    def __init__(self, model_of: dict[str, str], usage: RunUsage) -> None:
        self.model_of = model_of
        self.usage = usage

    async def on_llm_end(self, context, agent, response) -> None:  # type: ignore[no-untyped-def]
        u = response.usage
        self.usage.add(
            self.model_of.get(agent.name, str(agent.model)),
            requests=u.requests if u.requests is not None else 1,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
        )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EVENT_TEXT else text[:MAX_EVENT_TEXT] + "…[truncated]"


def _emit_item(sink: EventSink, event: RunItemStreamEvent) -> None:
    item = event.item
    agent = item.agent.name
    if isinstance(item, MessageOutputItem):
        sink.emit(
            ev.MESSAGE, {"agent": agent, "text": _clip(ItemHelpers.text_message_output(item))}
        )
    elif isinstance(item, ToolCallItem):
        raw = item.raw_item
        sink.emit(
            ev.TOOL_CALLED,
            {
                "agent": agent,
                "tool": getattr(raw, "name", None),
                "call_id": getattr(raw, "call_id", None),
                "arguments": _clip(str(getattr(raw, "arguments", ""))),
            },
        )
    elif isinstance(item, ToolCallOutputItem):
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
        output = (
            item.output if isinstance(item.output, str) else json.dumps(item.output, default=str)
        )
        sink.emit(ev.TOOL_OUTPUT, {"agent": agent, "call_id": call_id, "output": _clip(output)})


def _final_output(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


async def run_agent(
    compiled: CompiledAgents,
    input: str,
    *,
    sink: EventSink,
    session: Session | None = None,
    max_turns: int = 10,
    run_config: RunConfig | None = None,
    usage: RunUsage | None = None,
) -> AgentRunOutcome:
    """Run to the end; raises ``asyncio.CancelledError`` if cancelled (the caller records it).

    ``usage`` is filled as model calls finish, so a caller keeps the tokens of a run it had to
    cancel or time out.
    """
    usage = usage if usage is not None else RunUsage()
    result = Runner.run_streamed(
        compiled.root,
        input,
        max_turns=max_turns,
        session=session,
        run_config=run_config,
        hooks=_UsageHooks(compiled.model_of, usage),
    )
    current: str | None = None
    try:
        async for event in result.stream_events():
            if isinstance(event, RawResponsesStreamEvent):
                if event.data.type == "response.output_text.delta":
                    sink.emit(ev.TOKEN, {"delta": event.data.delta})
            elif isinstance(event, RunItemStreamEvent):
                _emit_item(sink, event)
            elif isinstance(event, AgentUpdatedStreamEvent):
                # Handoff items may be filtered out of the history; the agent change is not.
                if current is not None and event.new_agent.name != current:
                    sink.emit(ev.HANDOFF, {"from": current, "to": event.new_agent.name})
                current = event.new_agent.name
                sink.emit(ev.AGENT_UPDATED, {"agent": current})
    except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as exc:
        details = tripwire_details(exc)
        sink.emit(ev.GUARDRAIL_TRIPPED, details)
        error = {"code": "guardrail_tripped", "message": _tripped_message(details), **details}
        return AgentRunOutcome(RunStatus.BLOCKED_BY_GUARDRAIL, error=error, usage=usage)
    except MaxTurnsExceeded as exc:
        return _failed(sink, "max_turns_exceeded", str(exc), usage)
    except ModelBehaviorError as exc:
        return _failed(sink, "model_behavior_error", str(exc), usage)
    except NexusError as exc:
        return _failed(sink, exc.code, exc.message, usage)
    except Exception as exc:  # a model or tool failure ends this run, never the server
        return _failed(sink, "run_failed", f"{type(exc).__name__}: {exc}", usage)
    finally:
        if not result.is_complete:
            result.cancel()
    return AgentRunOutcome(
        RunStatus.SUCCEEDED, output=_final_output(result.final_output), usage=usage
    )


def _tripped_message(details: dict[str, Any]) -> str:
    return f"blocked by {details['stage']} guardrail {details['guardrail']!r}: {details['reason']}"


def _failed(sink: EventSink, code: str, message: str, usage: RunUsage) -> AgentRunOutcome:
    error = {"code": code, "message": _clip(message)}
    sink.emit(ev.RUN_FAILED, error)
    return AgentRunOutcome(RunStatus.FAILED, error=error, usage=usage)

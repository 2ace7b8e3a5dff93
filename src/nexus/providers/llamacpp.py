"""The embedded model (``local:smollm2-135m``) as an Agents SDK ``Model``.

Prompt building lives in ``llamacpp_messages``, tools and structured output in
``llamacpp_tools``, the process-wide llama.cpp worker in ``llamacpp_runtime``. This module turns
a generation into SDK output items and Responses stream events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from nexus.providers import llamacpp_runtime as runtime
from nexus.providers.llamacpp_messages import chatml_prompt, to_chat_messages
from nexus.providers.llamacpp_runtime import GenerationRequest, GenerationResult, RuntimeConfig
from nexus.providers.llamacpp_tools import (
    ToolPlan,
    decoding_grammar,
    output_prompt,
    parse_tool_call,
    plan_tools,
    tool_specs,
    tools_prompt,
)

MODEL_NAME = "smollm2-135m"
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.95

ensure_loaded = runtime.ensure_loaded
is_loaded = runtime.is_loaded


@dataclass(frozen=True)
class _Prepared:
    request: GenerationRequest
    plan: ToolPlan
    stream_text: bool
    """Whether text may be streamed before the generation ends (a call is never streamed)."""


class LlamaCppModel(Model):
    """The in-process SmolLM2 model; every instance shares the one loaded ``Llama``."""

    def __init__(
        self,
        *,
        config: RuntimeConfig | None = None,
        max_tokens: int = 512,
        model_name: str = MODEL_NAME,
    ) -> None:
        self.config = config if config is not None else RuntimeConfig()
        self.max_tokens = max_tokens
        self.model_name = model_name

    def __repr__(self) -> str:
        return f"LlamaCppModel(model_name={self.model_name!r})"

    def prepare(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
    ) -> _Prepared:
        """Build the generation request (prompt, grammar, sampling) for one model call."""
        plan = plan_tools(tool_specs(tools, handoffs), model_settings.tool_choice)
        schema = (
            output_schema.json_schema()
            if output_schema is not None and not output_schema.is_plain_text()
            else None
        )
        extra = [tools_prompt(plan)] if plan.tools else []
        if schema is not None:
            extra.append(output_prompt(schema))
        system = "\n\n".join(part for part in [system_instructions, *extra] if part)
        messages = to_chat_messages(system or None, input)
        settings = model_settings
        request = GenerationRequest(
            prompt=chatml_prompt(messages),
            max_tokens=settings.max_tokens if settings.max_tokens is not None else self.max_tokens,
            temperature=(
                settings.temperature if settings.temperature is not None else DEFAULT_TEMPERATURE
            ),
            top_p=settings.top_p if settings.top_p is not None else DEFAULT_TOP_P,
            grammar=decoding_grammar(plan, schema),
        )
        # With tools, free text can still stream: its first character tells it is no call.
        stream_text = not plan.tools or (schema is None and not plan.required)
        return _Prepared(request, plan, stream_text)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        prepared = self.prepare(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        result = await runtime.complete(self.config, prepared.request)
        return ModelResponse(
            output=output_items(result.text, prepared.plan),
            usage=usage_of(result),
            response_id=_new_id("resp"),
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[ResponseStreamEvent]:
        prepared = self.prepare(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        events = _EventWriter(self.model_name)
        yield events.created()
        generation = runtime.stream(self.config, prepared.request)
        pending = ""  # text held back until we know it is not a tool call
        streaming = False
        async with aclosing(generation.__aiter__()) as pieces:
            async for piece in pieces:
                if streaming:
                    yield events.text_delta(piece)
                    continue
                pending += piece
                head = pending.lstrip()
                if prepared.stream_text and head and (not prepared.plan.tools or head[0] != "{"):
                    streaming = True
                    for event in events.open_message():
                        yield event
                    yield events.text_delta(pending)
        result = generation.result
        assert result is not None  # set once the stream is exhausted
        if streaming:
            for event in events.close_message():
                yield event
        else:
            for item in output_items(result.text, prepared.plan):
                for event in events.whole_item(item):
                    yield event
        yield events.completed(usage_of(result))


def output_items(text: str, plan: ToolPlan) -> list[TResponseOutputItem]:
    """The SDK output for a finished generation: one tool call or one assistant message."""
    call = parse_tool_call(text, plan)
    if call is not None:
        return [
            ResponseFunctionToolCall(
                id=_new_id("fc"),
                call_id=call.call_id,
                type="function_call",
                name=call.name,
                arguments=call.arguments,
                status="completed",
            )
        ]
    return [_message(_new_id("msg"), text, "completed")]


def usage_of(result: GenerationResult) -> Usage:
    return Usage(
        requests=1,
        input_tokens=result.prompt_tokens,
        output_tokens=result.completion_tokens,
        total_tokens=result.prompt_tokens + result.completion_tokens,
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message(item_id: str, text: str, status: str) -> ResponseOutputMessage:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])]
    return ResponseOutputMessage(
        id=item_id,
        type="message",
        role="assistant",
        status=status,  # type: ignore[arg-type]
        content=content if status == "completed" else [],
    )


class _EventWriter:
    """Writes the Responses events of one streamed response, numbering them in order."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.response_id = _new_id("resp")
        self.sequence = 0
        self.output: list[TResponseOutputItem] = []
        self.message_id = ""
        self.text_parts: list[str] = []

    def _next(self) -> int:
        number = self.sequence
        self.sequence += 1
        return number

    def _response(self, status: str, usage: ResponseUsage | None) -> Response:
        return Response(
            id=self.response_id,
            created_at=0,
            model=self.model_name,
            object="response",
            output=list(self.output) if status == "completed" else [],
            tool_choice="auto",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status=status,  # type: ignore[arg-type]
            usage=usage,
        )

    def created(self) -> ResponseStreamEvent:
        return ResponseCreatedEvent(
            type="response.created",
            response=self._response("in_progress", None),
            sequence_number=self._next(),
        )

    def open_message(self) -> list[ResponseStreamEvent]:
        self.message_id = _new_id("msg")
        index = len(self.output)
        return [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=_message(self.message_id, "", "in_progress"),
                output_index=index,
                sequence_number=self._next(),
            ),
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                part=ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[]),
                sequence_number=self._next(),
            ),
        ]

    def text_delta(self, delta: str) -> ResponseStreamEvent:
        self.text_parts.append(delta)
        return ResponseTextDeltaEvent(
            type="response.output_text.delta",
            item_id=self.message_id,
            output_index=len(self.output),
            content_index=0,
            delta=delta,
            logprobs=[],
            sequence_number=self._next(),
        )

    def close_message(self) -> list[ResponseStreamEvent]:
        text = "".join(self.text_parts)
        index = len(self.output)
        message = _message(self.message_id, text, "completed")
        self.output.append(message)
        return [
            ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
                sequence_number=self._next(),
            ),
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                part=message.content[0],
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=message,
                output_index=index,
                sequence_number=self._next(),
            ),
        ]

    def whole_item(self, item: TResponseOutputItem) -> list[ResponseStreamEvent]:
        """All events of an item produced at once (a tool call, or buffered text)."""
        if isinstance(item, ResponseOutputMessage):
            text = item.content[0].text  # type: ignore[union-attr]
            events = self.open_message()
            if text:
                events.append(self.text_delta(text))
            return events + self.close_message()
        assert isinstance(item, ResponseFunctionToolCall)
        index = len(self.output)
        self.output.append(item)
        return [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
                output_index=index,
                sequence_number=self._next(),
            ),
            ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id=item.id or item.call_id,
                output_index=index,
                delta=item.arguments,
                sequence_number=self._next(),
            ),
            ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                item_id=item.id or item.call_id,
                output_index=index,
                arguments=item.arguments,
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=self._next(),
            ),
        ]

    def completed(self, usage: Usage) -> ResponseStreamEvent:
        response_usage = ResponseUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        return ResponseCompletedEvent(
            type="response.completed",
            response=self._response("completed", response_usage),
            sequence_number=self._next(),
        )

"""Agents SDK input items → the chatml prompt the embedded model reads.

The SDK's own chat-completions converter turns Responses items into chat messages; this module
then folds what a small chatml model cannot read natively: assistant tool calls become a short
note (``(called <tool> with {...})``), tool results become user
messages ("Result of <tool>: ..."), developer messages join the system prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.items import TResponseInputItem
from agents.models.chatcmpl_converter import Converter

from nexus.core.errors import ProviderError

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Small models tend to repeat a call they have just seen; ask them to use its result instead.
AFTER_RESULT = "Use this result to answer the question in plain text."


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


def content_text(content: Any) -> str:
    """Flatten chat-completions message content (a string or a list of parts) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content:
        if isinstance(part, Mapping):
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
            elif part.get("type") in {"image_url", "input_image", "file", "input_file"}:
                texts.append("[attachment omitted: the local model reads text only]")
        elif isinstance(part, str):
            texts.append(part)
    return "\n".join(texts)


def render_tool_call(name: str, arguments: str) -> str:
    """A past tool call as the model reads it in history.

    Deliberately not the JSON the model writes to call a tool: a 135M model shown its own call
    verbatim copies it again instead of answering from the result.
    """
    return f"(called {name} with {arguments})"


def to_chat_messages(
    system_instructions: str | None, items: str | Iterable[TResponseInputItem]
) -> list[ChatMessage]:
    """Convert SDK input to system/user/assistant messages (one leading system message)."""
    try:
        converted = Converter.items_to_messages(items)
    except Exception as exc:  # the SDK raises UserError for items chat models cannot take
        raise ProviderError(f"the local model cannot read this input: {exc}") from exc

    system_parts = [system_instructions] if system_instructions else []
    messages: list[ChatMessage] = []
    tool_names: dict[str, str] = {}
    for message in converted:
        role = message["role"]
        if role in {"system", "developer"}:
            text = content_text(message.get("content"))
            if text:
                system_parts.append(text)
        elif role == "user":
            messages.append(ChatMessage("user", content_text(message.get("content"))))
        elif role == "assistant":
            parts = [content_text(message.get("content"))]
            for call in message.get("tool_calls") or []:
                function = call.get("function")
                if function is None:
                    continue
                tool_names[call["id"]] = function["name"]
                parts.append(render_tool_call(function["name"], function["arguments"]))
            text = "\n".join(part for part in parts if part)
            if text:
                messages.append(ChatMessage("assistant", text))
        elif role == "tool":
            name = tool_names.get(message.get("tool_call_id", ""), "the tool")
            result = content_text(message.get("content"))
            messages.append(ChatMessage("user", f"Result of {name}: {result}\n{AFTER_RESULT}"))
    return [ChatMessage("system", "\n\n".join(system_parts)), *_merge_turns(messages)]


def _merge_turns(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Join consecutive messages of one role: chatml models expect alternating turns."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, f"{merged[-1].content}\n\n{message.content}")
        else:
            merged.append(message)
    return merged


def chatml_prompt(messages: list[ChatMessage]) -> str:
    """The chatml prompt, identical to llama-cpp-python's ``chatml`` chat format."""
    turns = [f"{IM_START}{m.role}\n{m.content}{IM_END}\n" for m in messages]
    return "".join(turns) + f"{IM_START}assistant\n"

"""Models behind any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, ...)."""

from __future__ import annotations

from agents.models.interface import Model
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from openai import AsyncOpenAI


def openai_compatible_model(model: str, *, base_url: str, api_key: str) -> Model:
    """The SDK's chat-completions model on its own client; nothing is sent until it is called."""
    client = AsyncOpenAI(base_url=base_url, api_key=api_key)
    return OpenAIChatCompletionsModel(model=model, openai_client=client)

"""Anthropic models through Anthropic's OpenAI-SDK-compatible endpoint (no extra dependency)."""

from __future__ import annotations

from agents.models.interface import Model

from nexus.providers.openai_compat import openai_compatible_model


def anthropic_model(model: str, *, base_url: str, api_key: str) -> Model:
    """A chat-completions model on ``base_url`` (``settings.anthropic_base_url``)."""
    return openai_compatible_model(model, base_url=base_url, api_key=api_key)

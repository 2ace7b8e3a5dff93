"""Model providers: ``"provider:model"`` ids resolved to OpenAI Agents SDK models.

``ProviderRegistry`` lists providers and models and builds SDK ``Model`` objects; the embedded
model lives in ``llamacpp`` (``LlamaCppModel``, ``ensure_loaded``, ``is_loaded``).
"""

from nexus.providers.registry import (
    Capabilities,
    ModelInfo,
    ProviderInfo,
    ProviderRegistry,
)

__all__ = ["Capabilities", "ModelInfo", "ProviderInfo", "ProviderRegistry"]

"""The ``"provider:model"`` registry: which providers exist, what they offer, and SDK models.

Listing and checking never touch the network; a model's client is created on first
``get_model`` and cached per id. API keys are read from settings only when a model is built
and never appear in a repr, an error message or a log line.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from agents.models.interface import Model

from nexus.core.errors import (
    ConfigurationError,
    NotFoundError,
    ProviderNotConfiguredError,
    UnknownModelError,
)
from nexus.settings import Settings


@dataclass(frozen=True)
class Capabilities:
    streaming: bool
    tools: bool
    structured_output: bool


@dataclass(frozen=True)
class ModelInfo:
    id: str
    """``"provider:model"``."""
    provider: str
    name: str
    capabilities: Capabilities
    description: str = ""


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    kind: str
    """``"embedded"``, ``"openai"``, ``"openai_compatible"`` or ``"anthropic"``."""
    configured: bool
    setting: str | None
    """The environment variable that configures the provider, if one is needed."""
    capabilities: Capabilities
    description: str


FULL = Capabilities(streaming=True, tools=True, structured_output=True)

LOCAL_MODEL = "smollm2-135m"
OPENAI_MODELS = {
    "gpt-4.1": "OpenAI GPT-4.1",
    "gpt-4.1-mini": "OpenAI GPT-4.1 mini",
    "gpt-4.1-nano": "OpenAI GPT-4.1 nano",
    "gpt-4o": "OpenAI GPT-4o",
    "gpt-4o-mini": "OpenAI GPT-4o mini",
    "o3": "OpenAI o3 reasoning model",
    "o4-mini": "OpenAI o4-mini reasoning model",
}
KEYED_KINDS = frozenset({"openai", "anthropic"})
ANTHROPIC_MODELS = {
    "claude-sonnet-4-5": "Anthropic Claude Sonnet 4.5",
    "claude-opus-4-1": "Anthropic Claude Opus 4.1",
    "claude-haiku-4-5": "Anthropic Claude Haiku 4.5",
}


@dataclass(frozen=True)
class _Provider:
    info: ProviderInfo
    catalog: dict[str, str]
    """Known models (name → description); a fixed catalog rejects other names."""
    fixed_catalog: bool
    build: Callable[[str, str | None], Model]
    """(model name, API key override or None for the configured one) → SDK model."""


class ProviderRegistry:
    """Resolves ``"provider:model"`` ids against the configured providers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._providers = {p.info.name: p for p in self._describe(settings)}
        self._models: dict[tuple[str, str], Model] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ProviderRegistry(providers={list(self._providers)!r})"

    def providers(self) -> list[ProviderInfo]:
        return [p.info for p in self._providers.values()]

    def provider(self, name: str) -> ProviderInfo:
        return self._provider(name).info

    def models(self, provider: str) -> list[ModelInfo]:
        entry = self._provider(provider)
        return [_model_info(entry, name, text) for name, text in entry.catalog.items()]

    def check_model(self, model_id: str) -> ModelInfo:
        """Validate a ``"provider:model"`` id (no network) and describe the model."""
        provider, sep, name = model_id.partition(":") if isinstance(model_id, str) else ("", "", "")
        if not sep or not provider or not name or name != name.strip():
            raise UnknownModelError(
                f"model {model_id!r} is not of the form 'provider:model', "
                f"e.g. {self._settings.default_model!r}",
                field="model",
            )
        entry = self._providers.get(provider)
        if entry is None:
            raise UnknownModelError(
                f"unknown model provider {provider!r}; known providers: "
                f"{', '.join(self._providers)}",
                field="model",
            )
        if entry.fixed_catalog and name not in entry.catalog:
            raise UnknownModelError(
                f"unknown {provider} model {name!r}; known models: {', '.join(entry.catalog)}",
                field="model",
            )
        return _model_info(entry, name, entry.catalog.get(name, ""))

    def requires_key(self, provider: str) -> bool:
        """Whether the provider needs an API key (from the vault or its setting)."""
        return self._provider(provider).info.kind in KEYED_KINDS

    def get_model(self, model_id: str, *, api_key: str | None = None) -> Model:
        """The SDK model for an id, built once per key and cached; no request is made here.

        ``api_key`` (from the credential vault) overrides the provider's configured key.
        """
        info = self.check_model(model_id)
        entry = self._providers[info.provider]
        if api_key is None and not entry.info.configured:
            raise ProviderNotConfiguredError(
                f"provider {info.provider!r} is not configured: add an API key for "
                f"{info.provider!r} (POST /api/v1/users/api-keys, or Settings → Provider keys) "
                f"or set {entry.info.setting}"
            )
        cache_key = (info.id, hashlib.sha256(api_key.encode()).hexdigest() if api_key else "")
        with self._lock:
            model = self._models.get(cache_key)
            if model is None:
                model = self._models[cache_key] = entry.build(info.name, api_key)
        return model

    def _provider(self, name: str) -> _Provider:
        entry = self._providers.get(name)
        if entry is None:
            raise NotFoundError(
                f"unknown model provider {name!r}; known providers: {', '.join(self._providers)}"
            )
        return entry

    @staticmethod
    def _describe(settings: Settings) -> list[_Provider]:
        from nexus.providers.anthropic import anthropic_model
        from nexus.providers.openai_compat import openai_compatible_model

        def local(name: str, _key: str | None) -> Model:
            from nexus.providers.llamacpp import LlamaCppModel
            from nexus.providers.llamacpp_runtime import RuntimeConfig

            config = RuntimeConfig(n_ctx=settings.local_n_ctx, n_threads=settings.local_threads)
            return LlamaCppModel(
                config=config, max_tokens=settings.local_max_tokens, model_name=name
            )

        def openai(name: str, api_key: str | None) -> Model:
            key = api_key or settings.openai_api_key or ""
            return openai_compatible_model(name, base_url=settings.openai_base_url, api_key=key)

        def anthropic(name: str, api_key: str | None) -> Model:
            key = api_key or settings.anthropic_api_key or ""
            return anthropic_model(name, base_url=settings.anthropic_base_url, api_key=key)

        def ollama(name: str, api_key: str | None) -> Model:
            return openai_compatible_model(
                name, base_url=settings.ollama_base_url, api_key=api_key or "ollama"
            )

        providers = [
            _Provider(
                ProviderInfo(
                    name="local",
                    kind="embedded",
                    configured=True,
                    setting=None,
                    capabilities=FULL,
                    description="SmolLM2-135M embedded in-process through llama.cpp; no key",
                ),
                {LOCAL_MODEL: "SmolLM2 135M Instruct (Q4_1), in-process"},
                True,
                local,
            ),
            _Provider(
                ProviderInfo(
                    name="openai",
                    kind="openai",
                    configured=bool(settings.openai_api_key),
                    setting="NEXUS_OPENAI_API_KEY",
                    capabilities=FULL,
                    description="OpenAI chat completions",
                ),
                OPENAI_MODELS,
                True,
                openai,
            ),
            _Provider(
                ProviderInfo(
                    name="anthropic",
                    kind="anthropic",
                    configured=bool(settings.anthropic_api_key),
                    setting="NEXUS_ANTHROPIC_API_KEY",
                    capabilities=FULL,
                    description="Anthropic Claude through its OpenAI-compatible endpoint",
                ),
                ANTHROPIC_MODELS,
                True,
                anthropic,
            ),
            _Provider(
                ProviderInfo(
                    name="ollama",
                    kind="openai_compatible",
                    configured=True,
                    setting="NEXUS_OLLAMA_BASE_URL",
                    capabilities=FULL,
                    description="Ollama's OpenAI-compatible API; any pulled model",
                ),
                {},
                False,
                ollama,
            ),
        ]
        reserved = {p.info.name for p in providers} | {"compat"}
        for name, compat in settings.compat_providers.items():
            if name in reserved or not name or ":" in name:
                raise ConfigurationError(
                    f"NEXUS_COMPAT_PROVIDERS entry {name!r} cannot be used as a provider name; "
                    f"rename it (reserved: {', '.join(sorted(reserved))}; no ':')"
                )
            providers.append(_compat_provider(name, compat.base_url, compat.api_key, compat.models))
        return providers


def _compat_provider(name: str, base_url: str, api_key: str | None, models: list[str]) -> _Provider:
    from nexus.providers.openai_compat import openai_compatible_model

    def build(model: str, key: str | None) -> Model:
        # Local servers (vLLM, LM Studio) accept any key; the client requires a non-empty one.
        return openai_compatible_model(model, base_url=base_url, api_key=key or api_key or "none")

    info = ProviderInfo(
        name=name,
        kind="openai_compatible",
        configured=True,
        setting="NEXUS_COMPAT_PROVIDERS",
        capabilities=FULL,
        description=f"OpenAI-compatible endpoint {_without_userinfo(base_url)}",
    )
    return _Provider(info, {model: "" for model in models}, False, build)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


def _model_info(entry: _Provider, name: str, description: str) -> ModelInfo:
    return ModelInfo(
        id=f"{entry.info.name}:{name}",
        provider=entry.info.name,
        name=name,
        capabilities=entry.info.capabilities,
        description=description,
    )

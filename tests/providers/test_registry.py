from __future__ import annotations

import socket

import pytest
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from nexus.core.errors import (
    ConfigurationError,
    NotFoundError,
    ProviderNotConfiguredError,
    UnknownModelError,
)
from nexus.providers import Capabilities, ModelInfo, ProviderRegistry
from nexus.providers.llamacpp import LlamaCppModel
from nexus.settings import CompatProvider, Settings

SECRET = "sk-test-SECRET-0123456789"


def make_settings(**overrides) -> Settings:
    base = {"openai_api_key": None, "anthropic_api_key": None, "compat_providers": {}}
    return Settings(_env_file=None, **{**base, **overrides})


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the registry must not open network connections")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_lists_builtin_providers_with_configuration_state():
    registry = ProviderRegistry(make_settings(openai_api_key=SECRET))
    rows = {(p.name, p.kind, p.configured, p.setting) for p in registry.providers()}
    assert rows == {
        ("local", "embedded", True, None),
        ("openai", "openai", True, "NEXUS_OPENAI_API_KEY"),
        ("anthropic", "anthropic", False, "NEXUS_ANTHROPIC_API_KEY"),
        ("ollama", "openai_compatible", True, "NEXUS_OLLAMA_BASE_URL"),
    }


def test_compat_providers_are_listed_with_their_models():
    settings = make_settings(
        compat_providers={"vllm": CompatProvider(base_url="http://h:8000/v1", models=["m1"])}
    )
    registry = ProviderRegistry(settings)
    assert registry.provider("vllm").kind == "openai_compatible"
    assert [m.id for m in registry.models("vllm")] == ["vllm:m1"]


def test_compat_provider_may_not_shadow_a_builtin():
    settings = make_settings(compat_providers={"openai": CompatProvider(base_url="http://h/v1")})
    with pytest.raises(ConfigurationError, match="rename it"):
        ProviderRegistry(settings)


def test_models_of_local_and_fixed_catalogs():
    registry = ProviderRegistry(make_settings())
    full = Capabilities(streaming=True, tools=True, structured_output=True)
    assert registry.models("local") == [
        ModelInfo(
            id="local:smollm2-135m",
            provider="local",
            name="smollm2-135m",
            capabilities=full,
            description="SmolLM2 135M Instruct (Q4_1), in-process",
        )
    ]
    openai_ids = [m.id for m in registry.models("openai")]
    assert {"openai:gpt-4.1", "openai:gpt-4.1-mini", "openai:gpt-4o", "openai:o4-mini"} <= set(
        openai_ids
    )
    assert [m.name for m in registry.models("anthropic")] == [
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
    ]


def test_unknown_provider_lookups_raise_not_found():
    registry = ProviderRegistry(make_settings())
    with pytest.raises(NotFoundError):
        registry.provider("nope")
    with pytest.raises(NotFoundError):
        registry.models("nope")


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("smollm2-135m", "provider:model"),
        (":smollm2", "provider:model"),
        ("local:", "provider:model"),
        ("nope:model", "unknown model provider 'nope'"),
        ("local:gpt-4o", "unknown local model 'gpt-4o'"),
        ("openai:gpt-17", "unknown openai model"),
        ("anthropic:claude-2", "unknown anthropic model"),
    ],
)
def test_check_model_rejects_bad_ids_naming_the_field(model_id, message):
    registry = ProviderRegistry(make_settings())
    with pytest.raises(UnknownModelError, match=message) as caught:
        registry.check_model(model_id)
    assert caught.value.field == "model"
    assert caught.value.to_dict()["code"] == "unknown_model"


def test_open_catalog_providers_accept_any_model_name():
    settings = make_settings(compat_providers={"vllm": CompatProvider(base_url="http://h/v1")})
    registry = ProviderRegistry(settings)
    assert registry.check_model("ollama:qwen2.5:7b").name == "qwen2.5:7b"
    assert registry.check_model("vllm:any/model").id == "vllm:any/model"


def test_missing_key_error_names_the_setting_and_no_secret():
    registry = ProviderRegistry(make_settings())
    with pytest.raises(ProviderNotConfiguredError, match="set NEXUS_OPENAI_API_KEY"):
        registry.get_model("openai:gpt-4.1-mini")
    with pytest.raises(ProviderNotConfiguredError, match="set NEXUS_ANTHROPIC_API_KEY"):
        registry.get_model("anthropic:claude-sonnet-4-5")


def test_get_model_builds_chat_completions_models_without_network_and_caches():
    settings = make_settings(openai_api_key=SECRET, anthropic_api_key=SECRET)
    registry = ProviderRegistry(settings)
    model = registry.get_model("openai:gpt-4.1-mini")
    assert isinstance(model, OpenAIChatCompletionsModel)
    assert registry.get_model("openai:gpt-4.1-mini") is model
    assert registry.get_model("openai:gpt-4o") is not model
    anthropic = registry.get_model("anthropic:claude-haiku-4-5")
    assert isinstance(anthropic, OpenAIChatCompletionsModel)
    assert str(anthropic._client.base_url) == settings.anthropic_base_url
    ollama = registry.get_model("ollama:llama3.2")
    assert str(ollama._client.base_url).startswith("http://127.0.0.1:11434/v1")


def test_local_model_is_not_loaded_by_get_model():
    registry = ProviderRegistry(make_settings(local_max_tokens=77))
    model = registry.get_model("local:smollm2-135m")
    assert isinstance(model, LlamaCppModel)
    assert model.max_tokens == 77


def test_secrets_never_appear_in_reprs_or_errors():
    settings = make_settings(
        openai_api_key=SECRET,
        compat_providers={
            "vllm": CompatProvider(base_url=f"http://user:{SECRET}@h/v1", api_key=SECRET)
        },
    )
    registry = ProviderRegistry(settings)
    texts = [repr(registry), repr(registry.providers()), repr(registry.models("vllm"))]
    texts.append(repr(registry.get_model("openai:gpt-4o")))
    texts.append(repr(registry.get_model("vllm:m")))
    for bad in ["x", "nope:x", "openai:nope"]:
        try:
            registry.check_model(bad)
        except UnknownModelError as exc:
            texts.append(str(exc))
    assert all(SECRET not in text for text in texts)

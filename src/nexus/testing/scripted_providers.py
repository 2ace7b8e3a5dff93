"""A provider registry whose ``test:<name>`` models are Agents SDK ``ScriptedModel``s.

Every other model id is delegated to the real registry, so listings and errors stay real::

    providers = ScriptedProviders(ProviderRegistry(settings))
    model = providers.scripted("echo")          # "test:echo"
    model.enqueue([assistant_message("hi")])
"""

from __future__ import annotations

from typing import Any

from agents import Model
from agents.testing import ScriptedModel

from nexus.core.errors import UnknownModelError
from nexus.providers.registry import Capabilities, ModelInfo, ProviderRegistry

PROVIDER = "test"
CAPABILITIES = Capabilities(streaming=True, tools=True, structured_output=True)


class ScriptedProviders:
    def __init__(self, real: ProviderRegistry) -> None:
        self.real = real
        self.models_by_name: dict[str, ScriptedModel] = {}

    def scripted(self, name: str) -> ScriptedModel:
        return self.models_by_name.setdefault(name, ScriptedModel())

    def check_model(self, model_id: str) -> ModelInfo:
        provider, _, name = model_id.partition(":")
        if provider != PROVIDER:
            return self.real.check_model(model_id)
        if name not in self.models_by_name:
            raise UnknownModelError(f"no scripted model {name!r}", field="model")
        return ModelInfo(id=model_id, provider=PROVIDER, name=name, capabilities=CAPABILITIES)

    def get_model(self, model_id: str, *, api_key: str | None = None) -> Model:
        provider, _, name = model_id.partition(":")
        if provider != PROVIDER:
            return self.real.get_model(model_id, api_key=api_key)
        self.check_model(model_id)
        return self.models_by_name[name]

    def __getattr__(self, attr: str) -> Any:  # listings, capabilities, warm-up: the real ones
        return getattr(self.real, attr)

from __future__ import annotations

from pydantic import BaseModel


class CapabilitiesPublic(BaseModel):
    streaming: bool
    tools: bool
    structured_output: bool


class ProviderPublic(BaseModel):
    name: str
    kind: str
    configured: bool
    setting: str | None
    capabilities: CapabilitiesPublic
    description: str


class ModelPublic(BaseModel):
    id: str
    provider: str
    name: str
    capabilities: CapabilitiesPublic
    description: str

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from nexus.api.deps import PrincipalDep, ServicesDep
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.api.schemas.models import CapabilitiesPublic, ModelPublic, ProviderPublic

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/providers")
async def list_providers(services: ServicesDep, _p: PrincipalDep) -> list[ProviderPublic]:
    return [ProviderPublic.model_validate(asdict(p)) for p in services.providers.providers()]


@router.get("/providers/{provider}/models")
async def list_models(provider: str, services: ServicesDep, _p: PrincipalDep) -> list[ModelPublic]:
    return [ModelPublic.model_validate(asdict(m)) for m in services.providers.models(provider)]


@router.get("/providers/{provider}/capabilities")
async def provider_capabilities(
    provider: str, services: ServicesDep, _p: PrincipalDep
) -> CapabilitiesPublic:
    return CapabilitiesPublic.model_validate(
        asdict(services.providers.provider(provider).capabilities)
    )

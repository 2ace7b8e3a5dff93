from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from nexus import __version__
from nexus.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, object]:
    async with services.db.sessions() as session:
        await session.execute(sa.text("SELECT 1"))
    return {"status": "ok", "version": __version__, "database": "ok"}

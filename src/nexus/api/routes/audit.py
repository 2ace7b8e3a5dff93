"""``/api/v1/audit``: who did what to which object, when (instance administrators)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from nexus.api.deps import AdminDep, PagingDep, ServicesDep
from nexus.api.schemas.accounts import AuditEntryPublic
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.store.audit_log import AuditLog

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


@router.get("")
async def list_audit(
    _admin: AdminDep,
    services: ServicesDep,
    paging: PagingDep,
    action: Annotated[str | None, Query(max_length=60)] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[AuditEntryPublic]:
    items, total = await AuditLog(services.db).list(
        paging.offset, paging.limit, action=action, actor_id=actor_id
    )
    return Page(
        items=[AuditEntryPublic.model_validate(asdict(e)) for e in items],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )

"""Record who did what to which object from a request (actor, workspace and IP filled in)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from nexus.store.audit_log import AuditLog
from nexus.worker.services import RunServices


async def audit(
    request: Request,
    services: RunServices,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    principal = getattr(request.state, "principal", None)
    await AuditLog(services.db).record(
        action,
        actor_id=principal.user_id if principal is not None else None,
        object_type=object_type,
        object_id=object_id,
        workspace_id=principal.workspace_id if principal is not None else None,
        ip=request.client.host if request.client is not None else None,
        details=details,
    )

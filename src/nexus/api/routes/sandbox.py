"""``/api/v1/sandbox/exec``: run code once in the sandbox (developers and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from nexus.api.deps import CreatorDep
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.api.schemas.sandbox import SandboxExec, SandboxExecPublic
from nexus.core.sandbox_types import ExecRequest, Sandbox

router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"], responses=ERROR_RESPONSES)


def get_sandbox(request: Request) -> Sandbox:
    """The app's sandbox (``app.state.sandbox``), built and self-tested at start-up."""
    return request.app.state.sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


@router.post("/exec")
async def execute(body: SandboxExec, sandbox: SandboxDep, _caller: CreatorDep) -> SandboxExecPublic:
    result = await sandbox.execute(
        ExecRequest(
            language=body.language,
            code=body.code,
            files=body.files if body.files is not None else {},
            timeout_s=body.timeout_s,
            memory_mb=body.memory_mb,
            network=body.network,
            mode=body.mode,
            allow_hosts=tuple(body.allow_hosts or ()),
        )
    )
    return SandboxExecPublic(
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        duration_ms=result.duration_ms,
        timed_out=result.timed_out,
        killed_reason=result.killed_reason,
        files_changed=result.files_changed,
    )

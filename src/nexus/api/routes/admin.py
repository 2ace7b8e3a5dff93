"""``/api/v1/admin``: instance limits for administrators.

Rate limits and run limits are fields of ``nexus.settings.Settings`` that the services read
on every check, so an override stored here takes effect at once (and again at start-up, see
:func:`apply_stored_limits`). Workflow limits (each workflow carries its own, these are the
defaults of a new one) and sandbox limits are shown read-only: changing them needs a restart
with other settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from nexus.api.audit import audit
from nexus.api.deps import AdminDep, ServicesDep
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.core.errors import InvalidInputError
from nexus.engine.spec import WorkflowLimits
from nexus.settings import Settings
from nexus.store.user_repository import UserRepository
from nexus.worker.services import RunServices

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

LIMITS_SETTING = "limits"
"""Key of the stored overrides in ``instance_settings``: ``{setting name: value}``."""

Group = Literal["rate", "runs", "workflow", "sandbox"]


@dataclass(frozen=True)
class EditableLimit:
    key: str
    group: Group
    label: str
    unit: str
    minimum: float
    maximum: float
    integer: bool


EDITABLE: tuple[EditableLimit, ...] = (
    EditableLimit(
        "run_rate_per_minute", "rate", "Runs per minute per user or token", "runs/min",
        1, 100_000, True,
    ),
    EditableLimit(
        "run_rate_per_ip_per_minute", "rate", "Runs per minute per IP address", "runs/min",
        1, 100_000, True,
    ),
    EditableLimit(
        "login_rate_per_ip_per_minute", "rate", "Sign-in attempts per minute per IP address",
        "attempts/min", 1, 10_000, True,
    ),
    EditableLimit(
        "run_timeout_s", "runs", "Longest agent run", "s", 1, 86_400, False,
    ),
    EditableLimit(
        "max_run_input_chars", "runs", "Longest run input", "characters", 1, 10_000_000, True,
    ),
)  # fmt: skip
EDITABLE_BY_KEY = {limit.key: limit for limit in EDITABLE}

WORKFLOW_LABELS = {
    "max_nodes": ("Nodes per workflow", "nodes"),
    "max_steps": ("Node executions per run", "steps"),
    "max_run_time_s": ("Longest workflow run", "s"),
    "max_loop_iterations": ("Loop iterations", "iterations"),
    "max_payload_bytes": ("Largest node output", "bytes"),
    "max_subworkflow_depth": ("Sub-workflow depth", "levels"),
}
SANDBOX_LABELS = {
    "timeout_s": ("Wall-clock time", "s"),
    "cpu_s": ("CPU time", "s"),
    "memory_mb": ("Memory", "MB"),
    "processes": ("Processes", "processes"),
    "file_size_mb": ("Largest file", "MB"),
    "open_files": ("Open files", "files"),
    "output_bytes": ("Captured output", "bytes"),
    "workspace_mb": ("Workspace size", "MB"),
}


class LimitPublic(BaseModel):
    key: str
    group: Group
    label: str
    value: float
    default: float
    unit: str
    editable: bool
    overridden: bool = False
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True


class LimitsPublic(BaseModel):
    limits: list[LimitPublic]
    note: str


class LimitsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, float | None] = Field(
        max_length=len(EDITABLE),
        description="setting name → new value; null returns it to the server's configured value",
    )


_BASELINES: dict[int, tuple[Settings, dict[str, float]]] = {}
"""Per settings object: its configured values, remembered before any override is applied."""


def _baseline(settings: Settings) -> dict[str, float]:
    entry = _BASELINES.get(id(settings))
    if entry is None or entry[0] is not settings:
        entry = (settings, {limit.key: float(getattr(settings, limit.key)) for limit in EDITABLE})
        _BASELINES[id(settings)] = entry
    return entry[1]


def _apply(settings: Settings, overrides: dict[str, float]) -> None:
    baseline = _baseline(settings)
    for limit in EDITABLE:
        value = overrides.get(limit.key, baseline[limit.key])
        setattr(settings, limit.key, int(value) if limit.integer else float(value))


async def _stored(services: RunServices) -> dict[str, float]:
    async with services.db.sessions() as session:
        value = await UserRepository().get_setting(session, LIMITS_SETTING)
    if not isinstance(value, dict):
        return {}
    return {
        k: float(v)
        for k, v in value.items()
        if k in EDITABLE_BY_KEY and isinstance(v, int | float) and not isinstance(v, bool)
    }


async def apply_stored_limits(services: RunServices) -> None:
    """At start-up: the overrides an administrator stored replace the configured values."""
    _apply(services.settings, await _stored(services))


def _limits(services: RunServices, overrides: dict[str, float]) -> LimitsPublic:
    settings = services.settings
    baseline = _baseline(settings)
    items = [
        LimitPublic(
            key=limit.key,
            group=limit.group,
            label=limit.label,
            value=float(getattr(settings, limit.key)),
            default=baseline[limit.key],
            unit=limit.unit,
            editable=True,
            overridden=limit.key in overrides,
            minimum=limit.minimum,
            maximum=limit.maximum,
            integer=limit.integer,
        )
        for limit in EDITABLE
    ]
    defaults = WorkflowLimits()
    for key, (label, unit) in WORKFLOW_LABELS.items():
        value = float(getattr(defaults, key))
        items.append(
            LimitPublic(
                key=f"workflow.{key}", group="workflow", label=label, value=value,
                default=value, unit=unit, editable=False,
            )
        )  # fmt: skip
    sandbox = services.sandbox
    if sandbox is not None:
        ceilings: dict[str, Any] = asdict(sandbox.config.ceilings)
        per_call: dict[str, Any] = asdict(sandbox.config.defaults)
        for key, (label, unit) in SANDBOX_LABELS.items():
            if key not in ceilings:
                continue
            items.append(
                LimitPublic(
                    key=f"sandbox.{key}", group="sandbox", label=label,
                    value=float(ceilings[key]), default=float(per_call.get(key, ceilings[key])),
                    unit=unit, editable=False,
                )
            )  # fmt: skip
    return LimitsPublic(
        limits=items,
        note=(
            "Rate and run limits take effect at once. Workflow limits are the defaults of a new "
            "workflow (each workflow can lower or raise its own); sandbox values are the "
            "ceilings a call may ask for (default: the per-call value); both are read-only here."
        ),
    )


@router.get("/limits")
async def get_limits(_admin: AdminDep, services: ServicesDep) -> LimitsPublic:
    """The effective instance limits: rate, run, workflow-default and sandbox limits."""
    return _limits(services, await _stored(services))


@router.put("/limits")
async def put_limits(
    request: Request, body: LimitsUpdate, _admin: AdminDep, services: ServicesDep
) -> LimitsPublic:
    """Override rate and run limits (``null`` returns one to its configured value)."""
    overrides = await _stored(services)
    for key, value in body.values.items():
        limit = EDITABLE_BY_KEY.get(key)
        if limit is None:
            raise InvalidInputError(
                f"{key!r} is not an editable limit; editable: {', '.join(EDITABLE_BY_KEY)}",
                field=f"values.{key}",
            )
        if value is None:
            continue
        if not limit.minimum <= value <= limit.maximum:
            raise InvalidInputError(
                f"{limit.label} must be between {limit.minimum:g} and {limit.maximum:g}",
                field=f"values.{key}",
            )
        if limit.integer and value != int(value):
            raise InvalidInputError(f"{limit.label} must be a whole number", field=f"values.{key}")
    for key, value in body.values.items():
        if value is None:
            overrides.pop(key, None)
        else:
            overrides[key] = value
    async with services.db.sessions.begin() as session:
        await UserRepository().put_setting(session, LIMITS_SETTING, overrides)
    _apply(services.settings, overrides)
    await audit(request, services, "limits_updated", "instance", None, {"values": body.values})
    return _limits(services, overrides)

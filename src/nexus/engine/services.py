"""What node types need from the rest of the platform, as small injectable callables.

The engine defines the shapes; ``nexus.worker`` wires real implementations (providers, agent
runner, tool registry, the SSRF-guarded HTTP client, the workflow store). A node whose service is
not wired fails with ``ConfigurationError`` saying which one is missing. Tests pass plain async
functions.

The model calls (``llm``, ``agent``) and sub-workflows return a ``ModelAnswer``: the answer with
the tokens it used, which the node adds to its record (``NodeContext.answer``). A bare answer (a
plain ``str`` from ``llm``, any value from ``agent``) is accepted too and counts no usage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nexus.core.errors import ConfigurationError
from nexus.core.usage import RunUsage

TokenCallback = Callable[[str], None]


@dataclass(slots=True)
class ModelAnswer:
    """What a model call answered (``value``: the text of an ``llm`` call, the final output of
    an ``agent`` run) and the tokens it used, per ``provider:model`` id."""

    value: Any
    usage: RunUsage = field(default_factory=RunUsage)


class LLMCall(Protocol):
    """One model completion. Returns the text with its usage (``ModelAnswer``; a plain ``str``
    is accepted too); streams deltas through ``on_token`` when given. ``schema`` asks for JSON
    output matching it (the node still validates the answer)."""

    async def __call__(
        self,
        prompt: str,
        *,
        model: str,
        system: str | None,
        schema: dict[str, Any] | None,
        on_token: TokenCallback | None,
    ) -> ModelAnswer | str: ...


class AgentCall(Protocol):
    """Run a stored agent (by id or name) on one input; returns its final output with the
    run's usage (``ModelAnswer``; a bare output is accepted too)."""

    async def __call__(
        self, agent: str, input: Any, *, idempotency_key: str, on_token: TokenCallback | None
    ) -> Any: ...


class ToolCall(Protocol):
    """Call a registered tool with JSON arguments; returns its result."""

    async def __call__(
        self, name: str, arguments: dict[str, Any], *, idempotency_key: str
    ) -> Any: ...


class HttpCall(Protocol):
    """An SSRF-guarded HTTP request; returns ``{status, headers, body}``."""

    async def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: Any,
        timeout_s: float,
    ) -> dict[str, Any]: ...


class SubworkflowCall(Protocol):
    """Run a stored workflow at a pinned version to completion; returns its outputs with the
    tokens the child run used (``ModelAnswer``; bare outputs are accepted too)."""

    async def __call__(
        self,
        workflow_id: str,
        version: int,
        inputs: dict[str, Any],
        *,
        depth: int,
        idempotency_key: str,
    ) -> ModelAnswer | dict[str, Any]: ...


class RunCodeCall(Protocol):
    """Run a program in the sandbox (never in this process); returns ``{exit_code, stdout,
    stderr, timed_out, killed_reason, files_changed, duration_ms}``."""

    async def __call__(
        self,
        language: str,
        code: str,
        *,
        files: dict[str, str],
        timeout_s: float | None,
        memory_mb: int | None,
    ) -> dict[str, Any]: ...


@dataclass
class Services:
    llm: LLMCall | None = None
    agent: AgentCall | None = None
    tool: ToolCall | None = None
    http: HttpCall | None = None
    subworkflow: SubworkflowCall | None = None
    run_code: RunCodeCall | None = None

    def require(self, name: str) -> Any:
        service = getattr(self, name)
        if service is None:
            raise ConfigurationError(
                f"The {name!r} service is not wired into this executor; "
                f"pass Services({name}=...) to WorkflowExecutor."
            )
        return service

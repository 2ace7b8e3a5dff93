"""What node types need from the rest of the platform, as small injectable callables.

The engine defines the shapes; ``nexus.worker`` wires real implementations (providers, agent
runner, tool registry, the SSRF-guarded HTTP client, the workflow store). A node whose service is
not wired fails with ``ConfigurationError`` saying which one is missing. Tests pass plain async
functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nexus.core.errors import ConfigurationError

TokenCallback = Callable[[str], None]


class LLMCall(Protocol):
    """One model completion. Returns the text; streams deltas through ``on_token`` when given.
    ``schema`` asks for JSON output matching it (the node still validates the answer)."""

    async def __call__(
        self,
        prompt: str,
        *,
        model: str,
        system: str | None,
        schema: dict[str, Any] | None,
        on_token: TokenCallback | None,
    ) -> str: ...


class AgentCall(Protocol):
    """Run a stored agent (by id or name) on one input; returns its final output."""

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
    """Run a stored workflow at a pinned version to completion; returns its outputs."""

    async def __call__(
        self,
        workflow_id: str,
        version: int,
        inputs: dict[str, Any],
        *,
        depth: int,
        idempotency_key: str,
    ) -> dict[str, Any]: ...


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

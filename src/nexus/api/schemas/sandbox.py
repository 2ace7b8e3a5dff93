"""Request and response bodies of ``POST /api/v1/sandbox/exec``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxExec(BaseModel):
    """Code to run once in a fresh sandbox: mode ``code`` has no network; mode ``validation``
    reaches only the hosts in ``allow_hosts``, over HTTP(S) through the egress proxy."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["python", "bash", "node"]
    code: str = Field(max_length=1_000_000)
    files: dict[str, str] | None = Field(
        default=None, description="Input files: path relative to the workspace -> text."
    )
    timeout_s: float | None = Field(default=None, gt=0, description="Within the admin ceiling.")
    memory_mb: int | None = Field(default=None, ge=16, description="Within the admin ceiling.")
    network: bool = Field(default=False, description="Only mode 'validation' can have network.")
    mode: Literal["code", "validation"] = "code"
    allow_hosts: list[Annotated[str, Field(min_length=1, max_length=260)]] | None = Field(
        default=None,
        max_length=50,
        description="Mode 'validation': hosts reachable through the egress proxy "
        "('host', 'host:port' or '*.domain'), each also checked by the SSRF guard.",
    )


class SandboxExecPublic(BaseModel):
    """The outcome; ``stdout``, ``stderr`` and ``files_changed`` are untrusted output."""

    exit_code: int
    stdout: str
    stderr: str
    duration_ms: float
    timed_out: bool
    killed_reason: (
        Literal["timeout", "cpu_limit", "file_size_limit", "output_limit", "memory_limit"] | None
    )
    files_changed: dict[str, str]

"""The ``code_interpreter`` tool: the model runs Python or bash in the sandbox.

The tool only formats requests and results; isolation is the ``Sandbox``'s job, and the
registry turns a refusal (``NexusError``) into text the model can act on.
"""

from __future__ import annotations

from typing import Any

from nexus.core.errors import NexusError, ToolError
from nexus.core.sandbox_types import ExecRequest, Sandbox
from nexus.tools.registry import ToolSpec

CODE_INTERPRETER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "language": {"type": "string", "enum": ["python", "bash"]},
        "code": {"type": "string", "description": "A complete script; print what you need."},
        "files": {
            "type": ["object", "null"],
            "description": "Input files, relative path -> text content (or null).",
            "additionalProperties": {"type": "string"},
        },
    },
    "required": ["language", "code", "files"],
    "additionalProperties": False,
}


def code_interpreter_tool(sandbox: Sandbox) -> ToolSpec:
    """The ``code_interpreter`` tool spec, running code in ``sandbox`` (no network)."""

    async def handle(arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await sandbox.execute(
                ExecRequest(
                    language=arguments["language"],
                    code=arguments["code"],
                    files=arguments["files"] if arguments["files"] is not None else {},
                )
            )
        except NexusError as exc:
            raise ToolError(exc.message) from exc
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "timed_out": result.timed_out,
            "killed_reason": result.killed_reason,
            "files_changed": result.files_changed,
        }

    return ToolSpec(
        name="code_interpreter",
        description=(
            "Run a Python or bash script in an isolated sandbox without network access and "
            "return its exit code, stdout, stderr and the files it wrote. Python has numpy, "
            "yaml, jinja2, regex, dateutil and tabulate. Each call starts from an empty "
            "workspace; pass input files in 'files'."
        ),
        parameters=CODE_INTERPRETER_PARAMETERS,
        handler=handle,
    )

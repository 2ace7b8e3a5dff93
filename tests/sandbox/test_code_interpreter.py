"""The ``code_interpreter`` tool through the registry, on the real sandbox."""

from __future__ import annotations

import json

from nexus.core.sandbox_types import ExecRequest, ExecResult, SandboxUnavailableError
from nexus.tools.code_interpreter import code_interpreter_tool
from nexus.tools.registry import ToolRegistry


async def test_tool_runs_code_and_returns_result(sandbox) -> None:
    registry = ToolRegistry()
    registry.register(code_interpreter_tool(sandbox))
    text = await registry.invoke(
        "code_interpreter",
        json.dumps({"language": "python", "code": "print(2 ** 10)", "files": None}),
    )
    assert json.loads(text) == {
        "exit_code": 0,
        "stdout": "1024\n",
        "stderr": "",
        "timed_out": False,
        "killed_reason": None,
        "files_changed": {},
    }


async def test_unavailable_sandbox_is_text_for_the_model() -> None:
    class Refusing:
        async def execute(self, request: ExecRequest) -> ExecResult:
            raise SandboxUnavailableError("code execution is disabled: install bubblewrap")

    registry = ToolRegistry()
    registry.register(code_interpreter_tool(Refusing()))
    text = await registry.invoke(
        "code_interpreter", json.dumps({"language": "bash", "code": "id", "files": None})
    )
    assert text == "error: code execution is disabled: install bubblewrap"

"""``code``: run a Python or bash program in the sandbox, with the node's inputs as data.

The code is never rendered as a template and never runs in this process: it goes to the
platform's ``run_code`` service (the bubblewrap sandbox, no network). Inputs reach it as data:

- every input is in the workspace file ``inputs.json`` (``{port: value}``);
- Python also gets them as variables: ``inputs`` (that dict), one variable per input port whose
  name is an identifier (``input`` for the default port), and — when the ``input`` port carries
  an object — one per identifier key of that object (ports win on a clash).

The result goes to the ``output`` port, taken from the first of: the Python variable ``result``
(JSON-encoded; other values as their ``str``), a ``result.json`` file the program wrote, the last
line of stdout that parses as JSON, or stdout as text. ``stdout`` and ``stderr`` ports carry the
text. A non-zero exit (or a limit hit) fails the node with the end of stderr in its message.
"""

from __future__ import annotations

import json
from typing import Any

from nexus.core.errors import ToolError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port

INPUTS_FILE = "inputs.json"
RESULT_FILE = "result.json"
CODE_FILE = "node_code.py"
_RESULT_VAR_FILE = ".nexus_result.json"
ERROR_TAIL_CHARS = 2000

# The program that runs the node's Python code: it loads the inputs, runs the code as
# ``node_code.py`` (so tracebacks show the code's own line numbers) and saves ``result``.
PYTHON_DRIVER = f"""\
import json, keyword, runpy, sys
with open({INPUTS_FILE!r}) as f:
    inputs = json.load(f)
names = {{"inputs": inputs}}
data = inputs.get("input")
if isinstance(data, dict):
    names.update({{k: v for k, v in data.items() if k.isidentifier() and not keyword.iskeyword(k)}})
names.update({{k: v for k, v in inputs.items() if k.isidentifier() and not keyword.iskeyword(k)}})
names["inputs"] = inputs
sys.argv = [{CODE_FILE!r}]
done = runpy.run_path({CODE_FILE!r}, init_globals=names, run_name="__main__")
if "result" in done:
    with open({_RESULT_VAR_FILE!r}, "w") as f:
        json.dump(done["result"], f, default=str)
"""


def _last_json_line(stdout: str) -> tuple[bool, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            return True, json.loads(line)
        except ValueError:
            return False, None
    return False, None


def result_of(outcome: dict[str, Any]) -> Any:
    """The node's ``output`` value from a sandbox outcome (see the module docstring)."""
    files: dict[str, str] = outcome.get("files_changed") or {}
    for name in (_RESULT_VAR_FILE, RESULT_FILE):
        if name in files:
            try:
                return json.loads(files[name])
            except ValueError:
                return files[name]
    stdout = str(outcome.get("stdout", ""))
    found, value = _last_json_line(stdout)
    if found:
        return value
    text = stdout.strip()
    return text if text else None


class CodeNode(NodeType):
    name = "code"
    description = (
        "Runs `code` (`language` python or bash) in the sandbox without network. Inputs are in "
        "`inputs.json` and, for Python, in variables (`inputs`, one per input port, and the keys "
        "of an object on `input`). The result (Python `result`, a `result.json` file, the last "
        "JSON line of stdout, or stdout) goes to `output`; a non-zero exit fails the node."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "language": {"enum": ["python", "bash"], "default": "python"},
            "code": {"type": "string", "minLength": 1, "maxLength": 100_000},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
            "memory_mb": {"type": "integer", "minimum": 16, "maximum": 8192},
        },
        "required": ["code"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"), port("stdout", "text"), port("stderr", "text"))
    dynamic_inputs = True
    raw_properties = frozenset({"code"})
    """Code is data for the sandbox, never a template."""

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        run_code = ctx.services.require("run_code")
        language = str(properties.get("language", "python"))
        code = str(properties["code"])
        files = {INPUTS_FILE: json.dumps(inputs, default=str)}
        if language == "python":
            files[CODE_FILE] = code
            program = PYTHON_DRIVER
        else:
            program = code
        timeout = properties.get("timeout_s")
        memory = properties.get("memory_mb")
        outcome = await run_code(
            language,
            program,
            files=files,
            timeout_s=float(timeout) if timeout is not None else None,
            memory_mb=int(memory) if memory is not None else None,
        )
        exit_code = outcome.get("exit_code")
        if exit_code != 0 or outcome.get("timed_out"):
            reason = outcome.get("killed_reason") or (
                "timeout" if outcome.get("timed_out") else None
            )
            stderr = str(outcome.get("stderr", "")).strip()
            tail = stderr[-ERROR_TAIL_CHARS:] if stderr else "(no error output)"
            stopped = f" (stopped: {reason})" if reason else ""
            raise ToolError(f"the code exited with {exit_code}{stopped}: {tail}")
        return NodeResult(
            {
                "output": result_of(outcome),
                "stdout": outcome.get("stdout", ""),
                "stderr": outcome.get("stderr", ""),
            }
        )

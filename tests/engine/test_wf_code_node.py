"""The ``code`` node: inputs as data and variables, the result on ``output``, failures.

Most tests use a fake ``run_code`` service that records the request and answers like the
sandbox; the last one runs a workflow through the API with the real bubblewrap sandbox.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nexus.core.status import RunStatus
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.nodes.code import CODE_FILE, INPUTS_FILE, PYTHON_DRIVER, result_of
from nexus.engine.services import Services


class FakeSandbox:
    def __init__(self, **answer: Any) -> None:
        self.answer = {"exit_code": 0, "stdout": "", "stderr": "", "files_changed": {}, **answer}
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, language, code, *, files, timeout_s, memory_mb) -> dict[str, Any]:
        self.calls.append(
            {
                "language": language,
                "code": code,
                "files": files,
                "timeout_s": timeout_s,
                "memory_mb": memory_mb,
            }
        )
        return dict(self.answer)


async def run_node(spec, properties: dict[str, Any], inputs: dict[str, Any], box) -> Any:
    executor = WorkflowExecutor(InMemoryCheckpointer(), services=Services(run_code=box))
    wf = spec(
        [
            {"id": "in", "type": "input"},
            {"id": "c", "type": "code", "properties": properties},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["in->c", "c->out"],
    )
    return await executor.start(executor.compile(wf), inputs, events=MemoryEventSink())


async def test_python_code_gets_the_inputs_and_is_never_rendered(spec) -> None:
    box = FakeSandbox(stdout='{"total": 5}\n')
    code = "result = {'total': a + b}  # {{ not a template }}"
    props = {"code": code, "timeout_s": 3, "memory_mb": 128}
    outcome = await run_node(spec, props, {"a": 2, "b": 3}, box)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.outputs == {"result": {"total": 5}}
    [call] = box.calls
    assert call == {
        "language": "python",
        "code": PYTHON_DRIVER,
        "files": {INPUTS_FILE: json.dumps({"input": {"a": 2, "b": 3}}), CODE_FILE: code},
        "timeout_s": 3.0,
        "memory_mb": 128,
    }


async def test_bash_code_runs_as_is(spec) -> None:
    box = FakeSandbox(stdout="plain text\n")
    outcome = await run_node(spec, {"language": "bash", "code": "cat inputs.json"}, {}, box)
    assert outcome.outputs == {"result": "plain text"}
    assert box.calls[0]["code"] == "cat inputs.json"
    assert box.calls[0]["timeout_s"] is None


async def test_a_non_zero_exit_fails_the_node_with_stderr(spec) -> None:
    box = FakeSandbox(exit_code=1, stderr="Traceback …\nZeroDivisionError: division by zero\n")
    outcome = await run_node(spec, {"code": "1/0"}, {}, box)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error["code"] == "tool_error"
    assert "exited with 1" in outcome.error["message"]
    assert "ZeroDivisionError: division by zero" in outcome.error["message"]


async def test_a_timeout_fails_the_node(spec) -> None:
    box = FakeSandbox(exit_code=-9, timed_out=True, killed_reason="timeout")
    outcome = await run_node(spec, {"code": "while True: pass"}, {}, box)
    assert outcome.status is RunStatus.FAILED
    assert "stopped: timeout" in outcome.error["message"]


async def test_without_the_service_the_node_says_what_is_missing(spec) -> None:
    outcome = await run_node(spec, {"code": "print(1)"}, {}, None)
    assert outcome.status is RunStatus.FAILED
    assert "'run_code' service" in outcome.error["message"]


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({}, "properties.code"),
        ({"code": ""}, "properties.code"),
        ({"code": "x", "language": "ruby"}, "properties.language"),
        ({"code": "x", "timeout_s": 0}, "properties.timeout_s"),
        ({"code": "x", "memory_mb": 1}, "properties.memory_mb"),
        ({"code": "x", "network": True}, "properties"),
    ],
)
def test_bad_properties_are_refused_at_compile_time(spec, props, field) -> None:
    from nexus.core.errors import InvalidInputError

    executor = WorkflowExecutor(InMemoryCheckpointer())
    wf = spec([{"id": "c", "type": "code", "properties": props}], [])
    with pytest.raises(InvalidInputError) as info:
        executor.compile(wf)
    assert any(d["field"] == field for d in info.value.details or []), info.value.details


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ({"files_changed": {".nexus_result.json": "[1, 2]", "result.json": "3"}}, [1, 2]),
        ({"files_changed": {"result.json": '{"a": 1}'}, "stdout": "7\n"}, {"a": 1}),
        ({"stdout": 'log line\n{"n": 1}\n\n'}, {"n": 1}),
        ({"stdout": '{"n": 1}\nnot json\n'}, '{"n": 1}\nnot json'),
        ({"stdout": ""}, None),
    ],
)
def test_where_the_result_comes_from(outcome, expected) -> None:
    assert result_of(outcome) == expected


WORKFLOW = {
    "name": "sum-in-sandbox",
    "nodes": [
        {"id": "start", "type": "input"},
        {
            "id": "calc",
            "type": "code",
            "properties": {
                "code": "import os\nprint('working in', os.getcwd())\n"
                "result = {'sum': sum(numbers), 'first': inputs['input']['numbers'][0]}\n"
            },
        },
        {"id": "fail", "type": "code", "properties": {"code": "raise SystemExit('no way')"}},
        {"id": "out", "type": "output", "properties": {"name": "answer"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "calc", "port": "input"}},
        {"id": "e2", "source": {"node": "calc", "port": "output"},
         "target": {"node": "out", "port": "input"}},
    ],
}  # fmt: skip


async def test_a_workflow_runs_python_in_the_real_sandbox(client) -> None:
    nodes = [n for n in WORKFLOW["nodes"] if n["id"] != "fail"]
    created = await client.post("/api/v1/workflows", json={**WORKFLOW, "nodes": nodes})
    assert created.status_code == 201, created.text
    url = f"/api/v1/workflows/{created.json()['id']}/execute"
    done = await client.post(url, json={"input_data": {"numbers": [4, 5, 6]}})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded", done.json()
    assert done.json()["outputs"] == {"answer": {"sum": 15, "first": 4}}

    failing = {
        **WORKFLOW,
        "name": "fails",
        "edges": [
            {"id": "e1", "source": {"node": "start", "port": "output"},
             "target": {"node": "fail", "port": "input"}},
            {"id": "e2", "source": {"node": "fail", "port": "output"},
             "target": {"node": "out", "port": "input"}},
        ],
        "nodes": [n for n in WORKFLOW["nodes"] if n["id"] != "calc"],
    }  # fmt: skip
    created = await client.post("/api/v1/workflows", json=failing)
    assert created.status_code == 201, created.text
    url = f"/api/v1/workflows/{created.json()['id']}/execute"
    done = (await client.post(url, json={"input_data": {}})).json()
    assert done["status"] == "failed"
    assert "exited with 1" in done["error"]["message"]
    assert "no way" in done["error"]["message"]

"""The code agent's auto-fix loop, driven by the scripted model against the real sandbox.

Each test scripts the model's answers, runs a task through ``POST /api/v1/code/tasks`` and
checks the whole outcome: run status and output, one ``code_attempt`` event per attempt, and the
versions and diffs stored in the project.
"""

from __future__ import annotations

import asyncio

import pytest
from agents.testing import assistant_message
from agents.usage import Usage

TASKS = "/api/v1/code/tasks"
PROJECTS = "/api/v1/code/projects"

BROKEN = "```python\nprint(greeting)\n```"
PATCH = """Here is the fix:
```diff
--- a/main.py
+++ b/main.py
@@ -1 +1,2 @@
+greeting = "hello"
 print(greeting)
```"""


def script(providers, name: str, *answers: str):
    model = providers.scripted(name)
    for answer in answers:
        model.enqueue([assistant_message(answer)])
    return model


async def run_task(client, **body) -> dict:
    response = await client.post(TASKS, params={"wait": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def attempts(client, run_id: str) -> list[dict]:
    events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    return [e["data"] for e in events if e["type"] == "code_attempt"]


async def test_a_failing_program_is_fixed_by_a_patch(client, providers) -> None:
    model = script(providers, "coder", BROKEN, PATCH)
    done = await run_task(client, prompt="greet", model="test:coder", max_attempts=3)
    assert done["status"] == "succeeded", done
    out = done["output"]
    assert {k: out[k] for k in ("success", "stop_reason", "attempts", "versions", "exit_code")} == {
        "success": True,
        "stop_reason": "succeeded",
        "attempts": 2,
        "versions": {"main.py": 2},
        "exit_code": 0,
    }
    assert out["stdout"] == "hello\n"

    steps = await attempts(client, done["run_id"])
    assert [(s["attempt"], s["exit_code"], s["files"]) for s in steps] == [
        (1, 1, {"main.py": 1}),
        (2, 0, {"main.py": 2}),
    ]
    assert "NameError: name 'greeting' is not defined" in steps[0]["stderr"]
    assert "NameError" in steps[0]["error"] and steps[1]["error"] is None
    assert steps[1]["diff"] == (
        '--- a/main.py\n+++ b/main.py\n@@ -1 +1,2 @@\n+greeting = "hello"\n print(greeting)\n'
    )
    assert steps[1]["code"] == 'greeting = "hello"\nprint(greeting)\n'

    # the error went back to the model with the failing program
    second_prompt = str(model.calls[1].input)
    assert "print(greeting)" in second_prompt and "NameError" in second_prompt

    url = f"{PROJECTS}/{done['project_id']}/files/main.py/versions"
    versions = (await client.get(url)).json()
    assert [(v["version"], v["author_kind"], v["author_id"]) for v in versions] == [
        (1, "agent", done["run_id"]),
        (2, "agent", done["run_id"]),
    ]
    run = (await client.get(f"/api/v1/runs/{done['run_id']}")).json()
    assert (run["kind"], run["status"]) == ("code_task", "succeeded")


async def test_the_same_error_twice_stops_early(client, providers) -> None:
    script(
        providers,
        "stuck",
        "```python\nraise ValueError('bad value 1')\n```",
        "```python\nx = 2\nraise ValueError('bad value 2')\n```",
        "```python\nprint('never asked')\n```",
    )
    done = await run_task(client, prompt="p", model="test:stuck", max_attempts=5)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "code_task_failed"
    assert (done["output"]["stop_reason"], done["output"]["attempts"]) == ("repeated_error", 2)
    assert providers.scripted("stuck").remaining_steps == 1
    assert [s["exit_code"] for s in await attempts(client, done["run_id"])] == [1, 1]


async def test_the_token_budget_ends_the_loop(client, providers) -> None:
    model = script(
        providers,
        "costly",
        "```python\nimport sys; sys.exit(3)\n```",
        "```python\nraise KeyError('k')\n```",
        "```python\nprint('ok')\n```",
    )
    model.set_default_usage(Usage(requests=1, input_tokens=70, output_tokens=30, total_tokens=100))
    done = await run_task(client, prompt="p", model="test:costly", max_attempts=5, token_budget=150)
    assert done["status"] == "failed"
    out = done["output"]
    assert (out["stop_reason"], out["attempts"], out["tokens"]) == ("token_budget", 2, 200)
    run = (await client.get(f"/api/v1/runs/{done['run_id']}")).json()
    assert run["usage"] == {"total_tokens": 200}


async def test_attempts_run_out(client, providers) -> None:
    script(providers, "weak", "no code at all, sorry", "```python\nimport sys; sys.exit(4)\n```")
    done = await run_task(client, prompt="p", model="test:weak", max_attempts=2)
    assert (done["status"], done["output"]["stop_reason"]) == ("failed", "max_attempts")
    steps = await attempts(client, done["run_id"])
    assert steps[0]["error"].startswith("Your answer had no code block")
    assert (steps[1]["exit_code"], steps[1]["files"]) == (4, {"main.py": 1})


async def test_expected_output_is_part_of_success(client, providers) -> None:
    model = script(
        providers,
        "quiet",
        "```python\nx = 2 + 3\n```",
        "```python\nprint('The sum is', 2 + 3)\n```",
    )
    done = await run_task(
        client, prompt="Print the sum of 2 and 3.", model="test:quiet", expect_output="SUM IS 5"
    )
    assert (done["status"], done["output"]["attempts"]) == ("succeeded", 2)
    steps = await attempts(client, done["run_id"])
    assert (steps[0]["exit_code"], steps[0]["error"]) == (
        0,
        "When run, its output does not contain 'SUM IS 5'.",
    )
    assert model.calls[0].input[0]["content"] == (
        "Write a Python program. Print the sum of 2 and 3.\n\n"
        "Answer with the code in a ```python block."
    )
    assert model.calls[1].input[0]["content"] == (
        "Write a Python program. Print the sum of 2 and 3.\n\n"
        "This program:\n```python\nx = 2 + 3\n```\n\n"
        "When run, its output does not contain 'SUM IS 5'.\n\n"
        "Write the fixed program. Answer with the code in a ```python block."
    )


async def test_a_failing_model_call_fails_the_task(client, providers) -> None:
    script(providers, "silent")  # nothing scripted: the call raises
    done = await run_task(client, prompt="p", model="test:silent")
    assert done["status"] == "failed"
    assert done["error"]["code"] == "provider_error"
    assert done["error"]["message"].startswith("the model call failed")
    events = (await client.get(f"/api/v1/runs/{done['run_id']}/events/list")).json()
    assert [e["type"] for e in events] == ["run_started", "run_failed", "run_completed"]


async def test_a_bad_patch_asks_for_the_whole_file(client, providers) -> None:
    bad_patch = "```diff\n--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-not there\n+x\n```"
    model = script(providers, "patchy", BROKEN, bad_patch, "```python\nprint('whole')\n```")
    done = await run_task(client, prompt="p", model="test:patchy", max_attempts=3)
    assert done["status"] == "succeeded"
    steps = await attempts(client, done["run_id"])
    assert "did not apply" in steps[1]["error"] and steps[1]["files"] == {}
    assert "Send the complete corrected file" in str(model.calls[2].input)
    assert done["output"]["versions"] == {"main.py": 2}


async def test_tests_of_an_existing_project_drive_the_loop(client, providers) -> None:
    project = (
        await client.post(
            PROJECTS,
            json={
                "name": "calc",
                "files": {"test_calc.py": "from calc import add\nassert add(2, 3) == 5\n"},
            },
        )
    ).json()
    script(
        providers,
        "tdd",
        "```python calc.py\ndef add(a, b):\n    return a - b\n```",
        "```python calc.py\ndef add(a, b):\n    return a + b\n```",
    )
    done = await run_task(
        client,
        prompt="write add() in calc.py",
        model="test:tdd",
        project_id=project["id"],
        entry="calc.py",
        test_command="python3 test_calc.py",
    )
    assert done["status"] == "succeeded", done
    assert done["project_id"] == project["id"]
    assert done["output"]["versions"] == {"calc.py": 2}
    steps = await attempts(client, done["run_id"])
    assert "AssertionError" in steps[0]["stderr"]


async def test_a_bash_task(client, providers) -> None:
    script(providers, "sh", '```bash\necho "sum: $((2 + 3))"\n```')
    done = await run_task(client, prompt="p", model="test:sh", language="bash")
    assert (done["status"], done["output"]["stdout"]) == ("succeeded", "sum: 5\n")
    files = (await client.get(f"{PROJECTS}/{done['project_id']}/files")).json()
    assert [f["path"] for f in files] == ["main.sh"]


async def test_cancel_a_running_task(client, providers) -> None:
    script(providers, "slow", "```python\nimport time\ntime.sleep(30)\n```")
    accepted = await client.post(TASKS, json={"prompt": "p", "model": "test:slow", "timeout_s": 4})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    for _ in range(500):
        events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
        if any(e["type"] == "run_started" for e in events):
            break
        await asyncio.sleep(0.01)
    cancelled = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    assert events[-1]["type"] == "run_completed"
    assert events[-1]["data"]["status"] == "cancelled"
    again = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"prompt": ""}, 422, "prompt"),
        ({"prompt": "x" * 8001}, 422, "prompt"),
        ({"prompt": "p", "language": "ruby"}, 422, "language"),
        ({"prompt": "p", "max_attempts": 0}, 422, "max_attempts"),
        ({"prompt": "p", "max_attempts": 11}, 422, "max_attempts"),
        ({"prompt": "p", "token_budget": 0}, 422, "token_budget"),
        ({"prompt": "p", "model": "nope:model"}, 422, "model"),
        ({"prompt": "p", "model": "test:unscripted"}, 422, "model"),
        ({"prompt": "p", "entry": "../escape.py"}, 422, "entry"),
        ({"prompt": "p", "entry": "/abs.py"}, 422, "entry"),
        ({"prompt": "p", "timeout_s": 0}, 422, "timeout_s"),
        ({"prompt": "p", "timeout_s": 300}, 422, "timeout_s"),  # above the sandbox ceiling
        ({"prompt": "p", "test_command": ""}, 422, "test_command"),
        ({"prompt": "p", "expect_output": ""}, 422, "expect_output"),
        ({"prompt": "p", "project_id": "prj_missing"}, 404, None),
        ({"prompt": "p", "surprise": True}, 422, "surprise"),
        ({"language": "python"}, 422, "prompt"),
    ],
)
async def test_bad_requests_are_refused_before_anything_runs(
    client, providers, body, status, field
) -> None:
    script(providers, "unused")
    response = await client.post(TASKS, json={"model": "test:unused", **body})
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field
    assert (await client.get("/api/v1/runs")).json()["total"] == 0
    assert (await client.get(PROJECTS)).json()["total"] == 0


async def test_a_project_of_another_workspace_is_not_found(client, providers, make_user) -> None:
    project = (await client.post(PROJECTS, json={"name": "mine"})).json()
    other = await make_user("other@nexus.test", role="developer", workspace="Elsewhere")
    script(providers, "x")
    response = await other.post(
        TASKS, json={"prompt": "p", "model": "test:x", "project_id": project["id"]}
    )
    assert response.status_code == 404
    assert (await client.get(f"{PROJECTS}/{project['id']}/files")).json() == []


async def test_tasks_left_running_by_a_dead_process_end_failed(services) -> None:
    from nexus.worker.agent_runs import AgentRunner
    from nexus.worker.code_tasks import CodeTasks

    for run_id in ("run_code_a", "run_code_b"):
        await services.runs.create(
            run_id, agent_id=None, session_id=None, input={}, spec_snapshot={}, kind="code_task"
        )
    assert await services.runs.mark_running("run_code_a")
    await services.runs.create(
        "run_agent", agent_id=None, session_id=None, input={}, spec_snapshot={}
    )
    tasks = CodeTasks(services, AgentRunner(services))
    assert await tasks.recover() == 2
    for run_id in ("run_code_a", "run_code_b"):
        run = await services.runs.get(run_id)
        assert (run.status.value, run.error["code"]) == ("failed", "interrupted")
        events = await services.events.read(run_id)
        assert [(e.seq, e.type, e.data["status"]) for e in events] == [
            (1, "run_completed", "failed")
        ]
    assert (await services.runs.get("run_agent")).status.value == "queued"
    assert await tasks.recover() == 0


async def test_the_run_streams_its_attempts_as_sse(client, providers) -> None:
    import json

    script(providers, "streamed", BROKEN, PATCH)
    accepted = await client.post(TASKS, json={"prompt": "greet", "model": "test:streamed"})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    response = await client.get(f"/api/v1/runs/{run_id}/events")  # live until run_completed
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            events.append(json.loads(lines[0].removeprefix("data: ")))
    assert [(e["seq"], e["type"]) for e in events] == [
        (1, "run_started"),
        (2, "code_attempt"),
        (3, "code_attempt"),
        (4, "run_completed"),
    ]
    assert events[-1]["data"]["status"] == "succeeded"
    assert events[-1]["data"]["output"]["versions"] == {"main.py": 2}

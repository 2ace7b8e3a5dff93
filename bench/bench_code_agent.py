"""The code agent with the embedded model: how many simple tasks end with a verified program.

Each task runs the real loop (``CodeTasks``: SmolLM2-135M at temperature 0, the bubblewrap
sandbox, a temporary SQLite home) with ``max_attempts`` 3 and ``expect_output`` — so success
means the program ran *and* printed what was asked, not merely exited 0. Reports per task the
outcome, stop reason, attempts and wall time, and the totals.

Run: ``.venv/bin/python bench/bench_code_agent.py`` (a few minutes on 2 cores; writes
bench/results/code_agent.md and code_agent.json).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import agents
import llama_cpp

from nexus.settings import Settings
from nexus.store.migrate import upgrade_async
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.code_tasks import CodeTaskRequest, CodeTasks
from nexus.worker.services import build_services

RESULTS = Path(__file__).parent / "results"
TASKS: list[tuple[str, str, str]] = [
    ("python", "Print hello.", "hello"),
    ("python", "Print the sum of 2 and 3.", "5"),
    ("python", "Print the numbers from 1 to 5, one per line.", "5"),
    ("python", "Print the square of 7.", "49"),
    ("python", "Print the word Nexus in upper case.", "NEXUS"),
    ("python", "Print the length of the string 'banana'.", "6"),
    ("python", "Print the largest number in the list [3, 9, 4].", "9"),
    ("bash", "Print hello world.", "hello world"),
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"llama-cpp-python {llama_cpp.__version__}, openai-agents {agents.__version__}, "
        f"{datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), _env_file=None)  # type: ignore[call-arg]
        await upgrade_async(settings.resolved_database_url)
        services = build_services(settings)
        assert services.sandbox is not None
        await asyncio.to_thread(services.sandbox.start)
        runner = AgentRunner(services)
        tasks = CodeTasks(services, runner)
        rows = []
        try:
            for language, prompt, expect in TASKS:
                started = time.perf_counter()
                run = await tasks.start(
                    CodeTaskRequest(
                        prompt=prompt,
                        language=language,  # type: ignore[arg-type]
                        max_attempts=3,
                        model="local:smollm2-135m",
                        expect_output=expect,
                    ),
                    owner_id=None,
                    workspace_id=None,
                )
                done = await tasks.wait(run.id)
                seconds = time.perf_counter() - started
                out = done.output or {}
                events = await services.events.read(run.id)
                answers = [e.data.get("answer", "") for e in events if e.type == "code_attempt"]
                rows.append(
                    {
                        "language": language,
                        "prompt": prompt,
                        "expect": expect,
                        "status": done.status.value,
                        "stop_reason": out.get("stop_reason"),
                        "attempts": out.get("attempts"),
                        "tokens": out.get("tokens"),
                        "stdout": out.get("stdout"),
                        "seconds": round(seconds, 2),
                        "answers": answers,
                    }
                )
                print(f"{done.status.value:9} {out.get('attempts')} {seconds:6.1f}s  {prompt}")
        finally:
            await runner.shutdown()
            services.sandbox.close()
            await services.db.dispose()
    write(rows)


def write(rows: list[dict[str, object]]) -> None:
    succeeded = sum(1 for r in rows if r["status"] == "succeeded")
    first = sum(1 for r in rows if r["status"] == "succeeded" and r["attempts"] == 1)
    lines = [
        "# Code agent with the embedded model (SmolLM2-135M Q4_1)",
        "",
        f"Machine: {machine()}",
        "",
        "Each task: `max_attempts` 3, temperature 0, `expect_output` must appear in stdout.",
        "",
        "| language | prompt | outcome | stop reason | attempts | tokens | s |",
        "| --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['language']} | {r['prompt']} | {r['status']} | {r['stop_reason']} | "
            f"{r['attempts']} | {r['tokens']} | {r['seconds']} |"
        )
    lines += [
        "",
        f"- succeeded: **{succeeded} of {len(rows)}** ({first} on the first attempt)",
        "- failures stop early on a repeated error or after 3 attempts; each attempt is a "
        "`code_attempt` event (answers in code_agent.json)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "code_agent.md").write_text(text)
    (RESULTS / "code_agent.json").write_text(
        json.dumps({"machine": machine(), "tasks": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main())

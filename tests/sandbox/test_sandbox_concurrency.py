"""Eight executions at a time, a few hundred in all: none fails spuriously or sees another."""

from __future__ import annotations

import asyncio

from nexus.core.sandbox_types import ExecRequest

RUNS = 320
PARALLEL = 8


async def test_parallel_executions_are_all_correct_and_isolated(sandbox) -> None:
    gate = asyncio.Semaphore(PARALLEL)

    async def one(index: int) -> tuple[int, object]:
        language = "python" if index % 4 == 0 else "bash"
        code = (
            f"import os\nopen('mine.txt', 'w').write('{index}')\nprint({index}, os.listdir('.'))"
            if language == "python"
            else f"echo {index} > mine.txt; ls; echo {index}"
        )
        async with gate:
            return index, await sandbox.execute(ExecRequest(language=language, code=code))

    results = await asyncio.gather(*(one(i) for i in range(RUNS)))
    failures = []
    for index, result in results:
        expected = f"{index} ['mine.txt']\n" if index % 4 == 0 else f"mine.txt\n{index}\n"
        if (result.exit_code, result.stdout, result.files_changed) != (
            0,
            expected,
            {"mine.txt": f"{index}" if index % 4 == 0 else f"{index}\n"},
        ):
            failures.append((index, result))
    assert failures == []

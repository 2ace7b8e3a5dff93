"""The code project store: versions with diffs, reading, diffing and reverting, path checks."""

from __future__ import annotations

import pytest

from nexus.core.errors import InvalidInputError, NotFoundError
from nexus.store.code_projects import (
    MAX_FILE_CHARS,
    CodeProjectRepository,
    check_path,
    unified_diff,
)


@pytest.fixture
async def repo(services) -> CodeProjectRepository:
    return CodeProjectRepository(services.db)


async def test_every_save_is_a_version_with_its_diff(repo) -> None:
    project = await repo.create("demo", owner_id="u1", workspace_id="w1")
    v1 = await repo.save_file(project.id, "main.py", "print('a')\n", message="first")
    v2 = await repo.save_file(
        project.id, "main.py", "print('b')\n", author_kind="agent", author_id="run_1"
    )
    assert (v1.version, v1.author_kind, v1.message) == (1, "user", "first")
    assert (v2.version, v2.author_kind, v2.author_id) == (2, "agent", "run_1")
    assert v1.diff == "--- a/main.py\n+++ b/main.py\n@@ -0,0 +1 @@\n+print('a')\n"
    assert v2.diff == ("--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-print('a')\n+print('b')\n")
    # saving the same content again adds nothing
    assert (await repo.save_file(project.id, "main.py", "print('b')\n")).version == 2
    versions = await repo.versions(project.id, "main.py")
    assert [(v.version, v.content) for v in versions] == [(1, "print('a')\n"), (2, "print('b')\n")]
    assert (await repo.read(project.id, "main.py", 1)).content == "print('a')\n"
    assert await repo.diff(project.id, "main.py", 2, 1) == (
        "--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-print('b')\n+print('a')\n"
    )
    assert await repo.files(project.id) == {"main.py": "print('b')\n"}


async def test_delete_and_revert_a_file(repo) -> None:
    project = await repo.create("demo")
    await repo.save_files(project.id, {"a.py": "1\n", "lib/b.py": "2\n"})
    deleted = await repo.delete_file(project.id, "a.py")
    assert (deleted.version, deleted.deleted, deleted.content) == (2, True, "")
    assert [f.path for f in await repo.list_files(project.id)] == ["lib/b.py"]
    with pytest.raises(NotFoundError):
        await repo.read_current(project.id, "a.py")
    back = await repo.revert_file(project.id, "a.py", 1)
    assert (back.version, back.deleted, back.content, back.message) == (
        3,
        False,
        "1\n",
        "revert a.py to version 1",
    )
    assert await repo.files(project.id) == {"a.py": "1\n", "lib/b.py": "2\n"}


async def test_revert_the_whole_project_to_a_point_in_time(repo) -> None:
    project = await repo.create("demo")
    first = await repo.save_files(project.id, {"a.py": "a1\n", "b.py": "b1\n"})
    point = first[0].created_at
    await repo.save_files(project.id, {"a.py": "a2\n", "c.py": "c2\n"})
    await repo.delete_file(project.id, "b.py")
    changed = await repo.revert_project(project.id, at=point)
    assert sorted((v.path, v.version, v.deleted) for v in changed) == [
        ("a.py", 3, False),
        ("b.py", 3, False),
        ("c.py", 2, True),
    ]
    assert await repo.files(project.id) == {"a.py": "a1\n", "b.py": "b1\n"}
    # per-file versions instead of a time
    await repo.revert_project(project.id, versions={"a.py": 2})
    assert (await repo.files(project.id))["a.py"] == "a2\n"
    with pytest.raises(NotFoundError):
        await repo.revert_project(project.id, versions={"a.py": 99})
    with pytest.raises(InvalidInputError):
        await repo.revert_project(project.id)


async def test_a_bad_save_writes_nothing(repo) -> None:
    project = await repo.create("demo")
    with pytest.raises(InvalidInputError):
        await repo.save_files(project.id, {"ok.py": "x\n", "../escape.py": "y\n"})
    with pytest.raises(InvalidInputError):
        await repo.save_file(project.id, "big.py", "x" * (MAX_FILE_CHARS + 1))
    assert await repo.files(project.id) == {}
    with pytest.raises(NotFoundError):
        await repo.save_file("prj_missing", "a.py", "x")


async def test_delete_project_removes_its_versions(repo) -> None:
    project = await repo.create("demo")
    await repo.save_file(project.id, "a.py", "x\n")
    await repo.delete(project.id)
    assert await repo.get(project.id) is None
    assert await repo.files(project.id) == {}
    with pytest.raises(NotFoundError):
        await repo.delete(project.id)


@pytest.mark.parametrize(
    "path",
    [
        "",
        " ",
        "/etc/passwd",
        "../x.py",
        "a/../../x",
        "a//b.py",
        "./a.py",
        "a\\b.py",
        "C:x",
        "a\x00b",
        "x" * 256,
        ("d" * 101) + "/a.py",
    ],
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_path(path)
    assert info.value.field == "path"


@pytest.mark.parametrize("path", ["main.py", "src/pkg/__init__.py", ".env", "a-b_c.txt", "..a"])
def test_good_paths_pass(path: str) -> None:
    assert check_path(path) == path


def test_diff_marks_a_missing_final_newline() -> None:
    assert unified_diff("a\n", "a", "f") == (
        "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n"
    )

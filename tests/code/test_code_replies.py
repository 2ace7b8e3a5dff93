"""Reading the model's answers: fenced blocks, named files, patches, and the patcher."""

from __future__ import annotations

import pytest

from nexus.worker.code_replies import PatchError, apply_patch, parse_reply
from nexus.worker.code_tasks import normalise_error, without_runner_frames


@pytest.mark.parametrize(
    ("answer", "files", "patches"),
    [
        ("```python\nprint(1)\n```", {"main.py": "print(1)\n"}, {}),
        ("Sure!\n```py\nprint(1)```\nDone.", {"main.py": "print(1)\n"}, {}),  # fence on the line
        ("Sure:\n```python\nprint(1)\n", {"main.py": "print(1)\n"}, {}),  # unclosed fence
        ("print('hi')", {"main.py": "print('hi')\n"}, {}),  # no fence, plainly code
        ("I cannot help with that, sorry.", {}, {}),
        ("```python lib/a.py\nA = 1\n```\n```python\nimport a\n```",
         {"lib/a.py": "A = 1\n", "main.py": "import a\n"}, {}),
        ("```python\n# file: util.py\nX = 1\n```", {"util.py": "# file: util.py\nX = 1\n"}, {}),
        ("```python\nprint(1)\n```\nRun it:\n```\n$ python main.py\n```",
         {"main.py": "print(1)\n"}, {}),
        ("```diff\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n```", {},
         {"x.py": "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"}),
        ("```\n@@ -1 +1 @@\n-a\n+b\n```", {}, {"main.py": "@@ -1 +1 @@\n-a\n+b\n"}),
        # what SmolLM2 does: a placeholder block, the program after it, then sample output
        ("```python\n# Your code here\n```\ndef f():\n    print(5)\nf()\n```\nThis will output:\n"
         "```\n5\n```", {"main.py": "def f():\n    print(5)\nf()\n"}, {}),
        ("```python\n# Your code here\n```", {}, {}),
        ("```\nHello\n```", {}, {}),  # an untagged block of output is no program
        ("```sh\nls -la\n```", {"main.py": "ls -la\n"}, {}),
    ],
)  # fmt: skip
def test_parse_reply(answer: str, files: dict, patches: dict) -> None:
    reply = parse_reply(answer, "main.py")
    assert (reply.files, reply.patches) == (files, patches)


def test_patch_matches_context_not_line_numbers() -> None:
    original = "import os\n\n\ndef f():\n    return 1\n\nprint(f())\n"
    patch = (
        "--- a/main.py\n+++ b/main.py\n@@ -40,2 +40,2 @@\n def f():\n-    return 1\n+    return 2\n"
    )
    assert apply_patch(original, patch) == "import os\n\n\ndef f():\n    return 2\n\nprint(f())\n"


def test_patch_with_several_hunks_and_a_dropped_context_space() -> None:
    original = "a\nb\n\nc\nd\n"
    patch = "@@ -1,3 +1,3 @@\n-a\n+A\n b\n\n@@ -4,2 +4,2 @@\n c\n-d\n+D\n"
    assert apply_patch(original, patch) == "A\nb\n\nc\nD\n"


def test_patch_onto_an_empty_file() -> None:
    assert apply_patch("", "@@ -0,0 +1,2 @@\n+x = 1\n+print(x)\n") == "x = 1\nprint(x)\n"


@pytest.mark.parametrize("patch", ["no hunks here", "@@ -1 +1 @@\n-missing line\n+x\n"])
def test_a_patch_that_does_not_apply(patch: str) -> None:
    with pytest.raises(PatchError):
        apply_patch("a\nb\n", patch)


def test_errors_that_differ_only_in_numbers_and_paths_are_the_same() -> None:
    first = 'Traceback:\n  File "/w/main.py", line 3, in <module>\nValueError: bad value 1'
    second = 'Traceback:\n  File "/x/main.py", line 9, in <module>\nValueError: bad value 22'
    other = 'Traceback:\n  File "/w/main.py", line 3, in <module>\nKeyError: 1'
    assert normalise_error(first) == normalise_error(second)
    assert normalise_error(first) != normalise_error(other)


def test_the_runner_frames_are_left_out_of_the_feedback() -> None:
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "/run/nexus/main.py", line 3, in <module>\n'
        "    runpy.run_path('main.py', run_name='__main__')\n"
        '  File "<frozen runpy>", line 291, in run_path\n'
        '  File "<frozen runpy>", line 98, in _run_module_code\n'
        '  File "main.py", line 1, in <module>\n'
        "    print(greeting)\n"
        "          ^^^^^^^^\n"
        "NameError: name 'greeting' is not defined\n"
    )
    assert without_runner_frames(stderr) == (
        "Traceback (most recent call last):\n"
        '  File "main.py", line 1, in <module>\n'
        "    print(greeting)\n"
        "          ^^^^^^^^\n"
        "NameError: name 'greeting' is not defined\n"
    )

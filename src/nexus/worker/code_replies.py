"""Reading a model's answer in the code agent's loop: files, or patches to files.

The format asked of the model is the simplest one small models follow: the whole program in one
fenced code block. Parsing is lenient about everything around it:

- every fenced block counts; its info string may name the file (```` ```python main.py ````), or
  its first line may (``# file: main.py``); a block that names no file is the entry file;
- a block tagged ``diff``/``patch``, or whose text starts like a unified diff (``--- a/…`` or
  ``@@``), is a patch to the file it names (default: the entry file);
- an unclosed final fence runs to the end of the text; with no fence at all, the whole answer is
  taken as the program when it does not read like prose.

``apply_patch`` applies a unified diff by its context lines, not its line numbers (models get
those wrong), and raises ``PatchError`` when a hunk's context cannot be found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\n`]*)$", re.MULTILINE)
FILE_COMMENT = re.compile(r"^\s*(?:#|//|--)\s*(?:file(?:name)?\s*:\s*)?([\w./-]+\.\w+)\s*$")
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
LANG_WORDS = {
    "python",
    "py",
    "python3",
    "bash",
    "sh",
    "shell",
    "console",
    "text",
    "diff",
    "patch",
    "javascript",
    "js",
}


class PatchError(ValueError):
    """A patch does not apply to the file it names."""


@dataclass
class Reply:
    """What one answer asks to change."""

    files: dict[str, str] = field(default_factory=dict)
    """Whole files: path -> content."""
    patches: dict[str, str] = field(default_factory=dict)
    """Unified diffs: path -> patch text."""

    @property
    def empty(self) -> bool:
        return not self.files and not self.patches


def _segments(text: str) -> list[tuple[str, str, bool]]:
    """``(info, body, fenced)`` for every fenced block and every stretch of text between them;
    an unclosed last block runs to the end (or to a fence glued to a code line)."""
    out: list[tuple[str, str, bool]] = []
    matches = list(FENCE.finditer(text))
    position = 0
    i = 0
    while i < len(matches):
        start = matches[i]
        out.append(("", text[position : start.start()], False))
        fence = start.group(1)
        body_from = start.end() + 1
        end = None
        for j in range(i + 1, len(matches)):
            if matches[j].group(1)[0] == fence[0] and len(matches[j].group(1)) >= len(fence):
                if not matches[j].group(2).strip():
                    end = j
                    break
        if end is None:  # unclosed, or closed at the end of a code line ("print(1)```")
            rest = text[body_from:]
            cut = rest.find(fence)
            out.append((start.group(2).strip(), rest if cut < 0 else rest[:cut], True))
            position = len(text) if cut < 0 else body_from + cut + len(fence)
            break
        out.append((start.group(2).strip(), text[body_from : matches[end].start()], True))
        position = matches[end].end()
        i = end + 1
    out.append(("", text[position:], False))
    return [(info, body, fenced) for info, body, fenced in out if body.strip() or fenced]


def _is_patch(info: str, body: str) -> bool:
    words = info.lower().split()
    if words and words[0] in ("diff", "patch", "udiff"):
        return True
    head = body.lstrip("\n")
    return head.startswith("--- ") or head.startswith("@@ ") or head.startswith("diff --git")


def _patch_path(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            if name.startswith("b/"):
                name = name[2:]
            return name if name and name != "/dev/null" else None
    return None


def _named_path(info: str) -> str | None:
    for word in info.split():
        word = word.strip("\"'")
        if word.startswith(("file=", "path=", "title=")):
            word = word.split("=", 1)[1].strip("\"'")
        if word.lower() not in LANG_WORDS and re.fullmatch(r"[\w./-]+\.\w+", word):
            return word
    return None


PROSE_LINE = re.compile(r"^[A-Za-z][\w ,;'’-]*[.!?:]?$")
CODE_SIGN = re.compile(r"[()\[\]{}=<>$|;]|^\s*(#!|import |from |def |echo |for |if )")


def _looks_like_code(text: str) -> bool:
    """Whether an answer without fences is a program rather than an explanation."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return False
    prose = sum(1 for line in lines if len(line.split()) >= 3 and PROSE_LINE.match(line))
    coded = sum(1 for line in lines if CODE_SIGN.search(line))
    return coded > 0 and prose * 2 < len(lines)


def _substantive(body: str) -> bool:
    """Has a line that is not blank and not a comment (``# Your code here`` is no program)."""
    return any(
        line.strip() and not line.strip().startswith(("#", "//")) for line in body.splitlines()
    )


def _text(body: str) -> str:
    body = body.strip("\n")
    return body + "\n"


def parse_reply(text: str, entry: str) -> Reply:
    """The files and patches in a model's answer (see the module docstring)."""
    reply = Reply()
    segments = _segments(text)
    for info, body, fenced in segments:
        if not fenced or not body.strip():
            continue
        if _is_patch(info, body):
            reply.patches.setdefault(_patch_path(body) or entry, body)
            continue
        path = _named_path(info)
        if path is None:
            named = FILE_COMMENT.match(body.lstrip("\n").split("\n")[0])
            if named is not None:
                path = named.group(1)
        if path is not None:
            reply.files.setdefault(path, _text(body))
            continue
        tagged = info.lower().split()[:1] in (["python"], ["py"], ["python3"], ["bash"], ["sh"])
        if entry in reply.files or not _substantive(body):
            continue  # a placeholder, or a second block: usually an example run or its output
        if tagged or _looks_like_code(body):
            reply.files[entry] = _text(body)
    if entry not in reply.files and entry not in reply.patches:
        # Small models often close the fence early and write the program after it.
        for _info, body, fenced in segments:
            if not fenced and _substantive(body) and _looks_like_code(body):
                if _is_patch("", body):
                    reply.patches[_patch_path(body) or entry] = _text(body)
                else:
                    reply.files[entry] = _text(body)
                break
    return reply


@dataclass
class _Hunk:
    old_start: int
    lines: list[str]


def _hunks(patch: str) -> list[_Hunk]:
    hunks: list[_Hunk] = []
    current: _Hunk | None = None
    for line in patch.splitlines():
        match = HUNK.match(line)
        if match is not None:
            current = _Hunk(int(match.group(1)), [])
            hunks.append(current)
            continue
        if line.startswith(("--- ", "+++ ", "diff ", "index ")) and (
            current is None or not current.lines or line.startswith(("--- a/", "+++ b/"))
        ):
            current = None if line.startswith(("--- ", "diff ")) else current
            continue
        if current is None:
            continue
        if line.startswith("\\"):
            continue  # "\ No newline at end of file"
        if line == "":
            line = " "  # editors and models drop the space of an empty context line
        if line[0] in " +-":
            current.lines.append(line)
    return [h for h in hunks if h.lines]


def _find(lines: list[str], needle: list[str], hint: int) -> int | None:
    """Where ``needle`` occurs in ``lines``, nearest to ``hint``; then ignoring trailing
    whitespace."""
    if not needle:
        return min(max(hint, 0), len(lines))
    for normalise in (lambda s: s, lambda s: s.rstrip()):
        wanted = [normalise(s) for s in needle]
        found = [
            i
            for i in range(len(lines) - len(needle) + 1)
            if [normalise(s) for s in lines[i : i + len(needle)]] == wanted
        ]
        if found:
            return min(found, key=lambda i: abs(i - hint))
    return None


def apply_patch(original: str, patch: str) -> str:
    """``original`` with the unified diff ``patch`` applied (context matched, not numbers)."""
    hunks = _hunks(patch)
    if not hunks:
        raise PatchError("the patch has no hunks (lines starting with '@@')")
    trailing_newline = original.endswith("\n") or original == ""
    lines = original.splitlines()
    offset = 0
    for number, hunk in enumerate(hunks, 1):
        old = [h[1:] for h in hunk.lines if h[0] in " -"]
        new = [h[1:] for h in hunk.lines if h[0] in " +"]
        at = _find(lines, old, hunk.old_start - 1 + offset)
        if at is None:
            raise PatchError(f"hunk {number} does not match the file: its context is not there")
        lines[at : at + len(old)] = new
        offset += len(new) - len(old)
    text = "\n".join(lines)
    return text + "\n" if trailing_newline and lines else text

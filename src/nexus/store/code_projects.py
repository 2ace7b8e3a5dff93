"""Code projects and their versioned files (``code_projects``, ``code_file_versions``).

Every save of a file appends a version (1, 2, … per path) holding the whole content, who wrote it
(``user`` or ``agent``), a message and the unified diff from the previous version. Nothing is
updated in place: deleting a file appends a ``deleted`` version, reverting appends a version whose
content is the old one's. Who may see or change a project is ``nexus.security.access``'s job.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.core.errors import ConflictError, InvalidInputError, NotFoundError
from nexus.core.ids import new_id
from nexus.store.db import Database
from nexus.store.tables import CodeFileVersionRow, CodeProjectRow, utcnow

AuthorKind = Literal["user", "agent"]

MAX_PATH_CHARS = 255
MAX_SEGMENT_CHARS = 100
MAX_FILE_CHARS = 1_000_000
MAX_FILES = 500
MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class StoredProject:
    id: str
    name: str
    owner_id: str | None
    workspace_id: str | None
    visibility: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FileVersion:
    project_id: str
    path: str
    version: int
    content: str
    deleted: bool
    author_kind: str
    author_id: str | None
    message: str | None
    diff: str
    """Unified diff from the previous version ("" for an unchanged or first empty file)."""
    created_at: datetime


def _project(row: CodeProjectRow) -> StoredProject:
    return StoredProject(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        visibility=row.visibility,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version(row: CodeFileVersionRow) -> FileVersion:
    return FileVersion(
        project_id=row.project_id,
        path=row.path,
        version=row.version,
        content=row.content,
        deleted=row.deleted,
        author_kind=row.author_kind,
        author_id=row.author_id,
        message=row.message,
        diff=row.diff,
        created_at=row.created_at,
    )


def check_path(path: str) -> str:
    """A project-relative file path, or ``InvalidInputError``: no absolute paths, no ``..`` or
    ``.`` segments, no backslashes or control characters, bounded length."""

    def bad(why: str) -> InvalidInputError:
        return InvalidInputError(f"invalid file path {path[:80]!r}: {why}", field="path")

    if not path or not path.strip():
        raise bad("it is empty")
    if len(path) > MAX_PATH_CHARS:
        raise bad(f"longer than {MAX_PATH_CHARS} characters")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise bad("use a relative path such as 'src/main.py'")
    if "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path) or not _encodable(path):
        raise bad("backslashes and control characters are not allowed")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise bad("empty, '.' and '..' segments are not allowed")
        if len(segment) > MAX_SEGMENT_CHARS:
            raise bad(f"a segment is longer than {MAX_SEGMENT_CHARS} characters")
    return path


def check_content(content: str) -> str:
    if len(content) > MAX_FILE_CHARS:
        raise InvalidInputError(
            f"file content is longer than {MAX_FILE_CHARS} characters", field="content"
        )
    if "\x00" in content or not _encodable(content):
        raise InvalidInputError(
            "file content must be UTF-8 text (no NUL, no lone surrogates)", field="content"
        )
    return content


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unified_diff(old: str, new: str, path: str) -> str:
    """``diff -u`` of two texts, marking a missing final newline like git does."""

    def lines(text: str) -> list[str]:
        out = text.splitlines(keepends=True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out

    return "".join(
        difflib.unified_diff(lines(old), lines(new), fromfile=f"a/{path}", tofile=f"b/{path}")
    )


def visible_clause(
    user_id: str, workspace_ids: Collection[str], admin_workspace_ids: Collection[str]
) -> sa.ColumnElement[bool]:
    """Projects a user may see (the same rule as for agents and workflows)."""
    return sa.or_(
        CodeProjectRow.owner_id == user_id,
        CodeProjectRow.visibility == "public",
        sa.and_(
            CodeProjectRow.workspace_id.in_(workspace_ids),
            CodeProjectRow.visibility == "workspace",
        ),
        CodeProjectRow.workspace_id.in_(admin_workspace_ids),
    )


def _latest_query(project_id: str) -> sa.Select[tuple[CodeFileVersionRow]]:
    """The newest version of every path of a project (deleted ones included)."""
    newest = (
        sa.select(
            CodeFileVersionRow.path.label("path"),
            sa.func.max(CodeFileVersionRow.version).label("version"),
        )
        .where(CodeFileVersionRow.project_id == project_id)
        .group_by(CodeFileVersionRow.path)
        .subquery()
    )
    return (
        sa.select(CodeFileVersionRow)
        .join(
            newest,
            sa.and_(
                CodeFileVersionRow.path == newest.c.path,
                CodeFileVersionRow.version == newest.c.version,
            ),
        )
        .where(CodeFileVersionRow.project_id == project_id)
        .order_by(CodeFileVersionRow.path)
    )


@dataclass(frozen=True)
class _Change:
    path: str
    content: str
    deleted: bool = False


class CodeProjectRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- projects

    async def create(
        self,
        name: str,
        *,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        visibility: str = "workspace",
    ) -> StoredProject:
        now = utcnow()
        row = CodeProjectRow(
            id=new_id("prj"),
            name=name,
            owner_id=owner_id,
            workspace_id=workspace_id,
            visibility=visibility,
            created_at=now,
            updated_at=now,
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _project(row)

    async def get(self, project_id: str) -> StoredProject | None:
        async with self.db.sessions() as session:
            row = await session.get(CodeProjectRow, project_id)
        return _project(row) if row is not None else None

    async def require(self, project_id: str) -> StoredProject:
        project = await self.get(project_id)
        if project is None:
            raise NotFoundError(f"code project {project_id!r} not found")
        return project

    async def list(
        self, *, where: sa.ColumnElement[bool] | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[StoredProject], int]:
        query = sa.select(CodeProjectRow)
        if where is not None:
            query = query.where(where)
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(CodeProjectRow.created_at.desc(), CodeProjectRow.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [_project(r) for r in rows], total or 0

    async def delete(self, project_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                sa.delete(CodeFileVersionRow).where(CodeFileVersionRow.project_id == project_id)
            )
            result = await session.execute(
                sa.delete(CodeProjectRow).where(CodeProjectRow.id == project_id)
            )
        if result.rowcount != 1:
            raise NotFoundError(f"code project {project_id!r} not found")

    # ----------------------------------------------------------------- saving

    async def save_file(
        self,
        project_id: str,
        path: str,
        content: str,
        *,
        author_kind: AuthorKind = "user",
        author_id: str | None = None,
        message: str | None = None,
    ) -> FileVersion:
        """Append a version of ``path`` (the newest one back if ``content`` is unchanged)."""
        saved = await self.save_files(
            project_id,
            {path: content},
            author_kind=author_kind,
            author_id=author_id,
            message=message,
        )
        return saved[0] if saved else await self.read(project_id, path)

    async def save_files(
        self,
        project_id: str,
        files: Mapping[str, str],
        *,
        author_kind: AuthorKind = "user",
        author_id: str | None = None,
        message: str | None = None,
    ) -> list[FileVersion]:
        """Append a version of every changed file, all in one transaction; returns the new
        versions (unchanged files get none)."""
        changes = [_Change(check_path(p), check_content(c)) for p, c in files.items()]
        return await self._apply(project_id, changes, author_kind, author_id, message)

    async def delete_file(
        self,
        project_id: str,
        path: str,
        *,
        author_kind: AuthorKind = "user",
        author_id: str | None = None,
        message: str | None = None,
    ) -> FileVersion:
        check_path(path)
        current = await self.read(project_id, path)  # NotFound for a missing or deleted file
        if current.deleted:
            raise NotFoundError(f"file {path!r} was deleted in version {current.version}")
        saved = await self._apply(
            project_id, [_Change(path, "", deleted=True)], author_kind, author_id, message
        )
        return saved[0]

    async def _apply(
        self,
        project_id: str,
        changes: list[_Change],
        author_kind: AuthorKind,
        author_id: str | None,
        message: str | None,
    ) -> list[FileVersion]:
        if message is not None and len(message) > MAX_MESSAGE_CHARS:
            raise InvalidInputError(
                f"message is longer than {MAX_MESSAGE_CHARS} characters", field="message"
            )
        for _ in range(3):  # a concurrent save took our version number: read again and retry
            try:
                async with self.db.sessions.begin() as session:
                    return await self._apply_in(
                        session, project_id, changes, author_kind, author_id, message
                    )
            except IntegrityError:
                continue
        raise ConflictError("the file is being saved concurrently; try again")

    async def _apply_in(
        self,
        session: AsyncSession,
        project_id: str,
        changes: list[_Change],
        author_kind: AuthorKind,
        author_id: str | None,
        message: str | None,
    ) -> list[FileVersion]:
        project = await session.get(CodeProjectRow, project_id)
        if project is None:
            raise NotFoundError(f"code project {project_id!r} not found")
        latest = {r.path: r for r in await session.scalars(_latest_query(project_id))}
        live = {p for p, r in latest.items() if not r.deleted}
        now = utcnow()
        rows: list[CodeFileVersionRow] = []
        for change in changes:
            previous = latest.get(change.path)
            if previous is None and change.deleted:
                continue  # deleting what never existed
            old = previous.content if previous is not None and not previous.deleted else ""
            if previous is not None and previous.deleted == change.deleted:
                if previous.content == change.content:
                    continue  # unchanged: no new version
            if change.deleted:
                live.discard(change.path)
            else:
                live.add(change.path)
            row = CodeFileVersionRow(
                project_id=project_id,
                path=change.path,
                version=(previous.version if previous is not None else 0) + 1,
                content=change.content,
                deleted=change.deleted,
                author_kind=author_kind,
                author_id=author_id,
                message=message,
                diff=unified_diff(old, change.content, change.path),
                created_at=now,
            )
            rows.append(row)
        if len(live) > MAX_FILES:
            raise InvalidInputError(f"a project holds at most {MAX_FILES} files", field="path")
        if rows:
            session.add_all(rows)
            project.updated_at = now
            await session.flush()
        return [_version(r) for r in rows]

    # ----------------------------------------------------------------- reading

    async def list_files(self, project_id: str) -> list[FileVersion]:
        """The newest version of every file that is not deleted, by path."""
        async with self.db.sessions() as session:
            rows = await session.scalars(_latest_query(project_id))
            return [_version(r) for r in rows if not r.deleted]

    async def files(self, project_id: str) -> dict[str, str]:
        """The project's current files: path -> content."""
        return {f.path: f.content for f in await self.list_files(project_id)}

    async def files_at(self, project_id: str, at: datetime) -> dict[str, str]:
        """The project's files as they were at ``at``: path -> content."""
        async with self.db.sessions() as session:
            then = await _as_of(session, project_id, at)
        return {path: row.content for path, row in then.items() if row and not row.deleted}

    async def versions(self, project_id: str, path: str) -> list[FileVersion]:
        """Every version of ``path``, oldest first (``NotFoundError`` if it never existed)."""
        async with self.db.sessions() as session:
            rows = list(
                await session.scalars(
                    sa.select(CodeFileVersionRow)
                    .where(
                        CodeFileVersionRow.project_id == project_id,
                        CodeFileVersionRow.path == path,
                    )
                    .order_by(CodeFileVersionRow.version)
                )
            )
        if not rows:
            raise NotFoundError(f"file {path!r} not found in project {project_id!r}")
        return [_version(r) for r in rows]

    async def read(self, project_id: str, path: str, version: int | None = None) -> FileVersion:
        """Version ``version`` of ``path`` (default: the newest, which may be a deletion)."""
        query = sa.select(CodeFileVersionRow).where(
            CodeFileVersionRow.project_id == project_id, CodeFileVersionRow.path == path
        )
        if version is not None:
            query = query.where(CodeFileVersionRow.version == version)
        else:
            query = query.order_by(CodeFileVersionRow.version.desc()).limit(1)
        async with self.db.sessions() as session:
            row = await session.scalar(query)
        if row is None:
            which = f"version {version} of " if version is not None else ""
            raise NotFoundError(f"{which}file {path!r} not found in project {project_id!r}")
        return _version(row)

    async def read_current(self, project_id: str, path: str) -> FileVersion:
        current = await self.read(project_id, path)
        if current.deleted:
            raise NotFoundError(f"file {path!r} was deleted in version {current.version}")
        return current

    async def diff(self, project_id: str, path: str, from_version: int, to_version: int) -> str:
        """Unified diff between two versions of ``path`` (a deleted version reads as empty)."""
        old = await self.read(project_id, path, from_version)
        new = await self.read(project_id, path, to_version)
        return unified_diff(
            "" if old.deleted else old.content, "" if new.deleted else new.content, path
        )

    # ----------------------------------------------------------------- reverting

    async def revert_file(
        self,
        project_id: str,
        path: str,
        version: int,
        *,
        author_kind: AuthorKind = "user",
        author_id: str | None = None,
        message: str | None = None,
    ) -> FileVersion:
        """Append a version of ``path`` whose content is version ``version``'s."""
        target = await self.read(project_id, path, version)
        text = message if message is not None else f"revert {path} to version {version}"
        saved = await self._apply(
            project_id,
            [_Change(path, target.content, deleted=target.deleted)],
            author_kind,
            author_id,
            text,
        )
        return saved[0] if saved else await self.read(project_id, path)

    async def revert_project(
        self,
        project_id: str,
        *,
        at: datetime | None = None,
        versions: Mapping[str, int] | None = None,
        author_kind: AuthorKind = "user",
        author_id: str | None = None,
        message: str | None = None,
    ) -> list[FileVersion]:
        """Bring the whole project back to how it was at ``at`` (files created later are
        deleted), or set the files named in ``versions`` to those versions. Appends a version
        of each file that changes, in one transaction; returns them."""
        if (at is None) == (versions is None):
            raise InvalidInputError("give either 'at' or 'versions'", field="at")
        changes: list[_Change] = []
        async with self.db.sessions() as session:
            if versions is not None:
                for path, number in versions.items():
                    check_path(path)
                    row = await session.scalar(
                        sa.select(CodeFileVersionRow).where(
                            CodeFileVersionRow.project_id == project_id,
                            CodeFileVersionRow.path == path,
                            CodeFileVersionRow.version == number,
                        )
                    )
                    if row is None:
                        raise NotFoundError(
                            f"version {number} of file {path!r} not found", field="versions"
                        )
                    changes.append(_Change(path, row.content, row.deleted))
            else:
                assert at is not None
                for path, row in (await _as_of(session, project_id, at)).items():
                    if row is None:
                        changes.append(_Change(path, "", deleted=True))
                    else:
                        changes.append(_Change(path, row.content, row.deleted))
        text = message if message is not None else "revert project"
        return await self._apply(project_id, changes, author_kind, author_id, text)


async def _as_of(
    session: AsyncSession, project_id: str, at: datetime
) -> dict[str, CodeFileVersionRow | None]:
    """Every path the project ever had -> its newest version saved at or before ``at`` (``None``
    for a path created later)."""
    rows = await session.scalars(
        sa.select(CodeFileVersionRow)
        .where(CodeFileVersionRow.project_id == project_id)
        .order_by(CodeFileVersionRow.path, CodeFileVersionRow.version)
    )
    then: dict[str, CodeFileVersionRow | None] = {}
    for row in rows:
        then.setdefault(row.path, None)
        if row.created_at <= at:
            then[row.path] = row
    return then

"""``/api/v1/code/projects``: files, versions, diffs, reverts, bad input and ownership."""

from __future__ import annotations

import pytest

BASE = "/api/v1/code/projects"


async def make_project(client, **extra) -> dict:
    response = await client.post(BASE, json={"name": "demo", **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_save_read_versions_diff_and_revert(client) -> None:
    project = await make_project(client, files={"main.py": "print(1)\n"})
    url = f"{BASE}/{project['id']}"
    assert project["visibility"] == "private" and project["editable"] is True

    saved = await client.put(
        f"{url}/files/main.py", json={"content": "print(2)\n", "message": "two"}
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["version"], saved.json()["message"]) == (2, "two")
    await client.put(f"{url}/files/lib/util.py", json={"content": "X = 1\n"})

    files = (await client.get(f"{url}/files")).json()
    assert [(f["path"], f["version"], f["author_kind"]) for f in files] == [
        ("lib/util.py", 1, "user"),
        ("main.py", 2, "user"),
    ]
    current = (await client.get(f"{url}/files/main.py")).json()
    assert (current["version"], current["content"]) == (2, "print(2)\n")
    first = (await client.get(f"{url}/files/main.py", params={"version": 1})).json()
    assert first["content"] == "print(1)\n"
    versions = (await client.get(f"{url}/files/main.py/versions")).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["diff"].endswith("-print(1)\n+print(2)\n")

    diff = (await client.get(f"{url}/diff", params={"path": "main.py", "from": 1, "to": 2})).json()
    assert diff == [
        {
            "path": "main.py",
            "from_version": 1,
            "to_version": 2,
            "diff": "--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-print(1)\n+print(2)\n",
        }
    ]
    latest = (await client.get(f"{url}/diff")).json()
    assert [(d["path"], d["from_version"], d["to_version"]) for d in latest] == [
        ("lib/util.py", 0, 1),
        ("main.py", 1, 2),
    ]

    reverted = await client.post(f"{url}/revert", json={"path": "main.py", "version": 1})
    assert reverted.status_code == 200, reverted.text
    assert [(v["path"], v["version"]) for v in reverted.json()] == [("main.py", 3)]
    assert (await client.get(f"{url}/files/main.py")).json()["content"] == "print(1)\n"

    # the whole project back to its creation: lib/util.py did not exist then
    at = versions[0]["created_at"]
    whole = (await client.post(f"{url}/revert", json={"at": at})).json()
    assert [(v["path"], v["deleted"]) for v in whole] == [("lib/util.py", True)]
    assert [f["path"] for f in (await client.get(f"{url}/files")).json()] == ["main.py"]

    deleted = await client.delete(f"{url}/files/main.py")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert (await client.get(f"{url}/files/main.py")).status_code == 404

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body", "field"),
    [
        ("put", "/files/..%2Fx.py", {"content": "x"}, "path"),
        ("put", "/files/a//b.py", {"content": "x"}, "path"),
        ("put", "/files/main.py", {"content": 5}, "content"),
        ("put", "/files/main.py", {"content": "x" * 1_000_001}, "content"),
        ("put", "/files/main.py", {}, "content"),
        ("put", "/files/main.py", {"content": "x", "extra": 1}, "extra"),
        ("post", "/revert", {}, ""),
        ("post", "/revert", {"path": "main.py"}, ""),
        ("post", "/revert", {"path": "main.py", "version": 1, "at": "2026-01-01T00:00:00Z"}, ""),
        ("post", "/revert", {"path": "main.py", "version": 0}, "version"),
        ("post", "/revert", {"path": "/etc/passwd", "version": 1}, "path"),
    ],
)
async def test_bad_input_is_a_422_and_writes_nothing(client, method, suffix, body, field) -> None:
    project = await make_project(client, files={"main.py": "print(1)\n"})
    url = f"{BASE}/{project['id']}"
    response = await client.request(method.upper(), url + suffix, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    if field:
        assert error["field"] == field
    versions = (await client.get(f"{url}/files/main.py/versions")).json()
    assert [v["version"] for v in versions] == [1]


async def test_bad_project_bodies(client) -> None:
    bodies = (
        {},
        {"name": ""},
        {"name": "x", "files": {"../a": "x"}},
        {"name": "x", "files": {"ok.py": "x", "bad.py": "nul \u0000 inside"}},
        {"name": "x", "v": 1},
    )
    for body in bodies:
        response = await client.post(BASE, json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.get(BASE)).json()["total"] == 0
    missing = await client.get(f"{BASE}/prj_nothere/files/main.py", params={"version": 3})
    assert missing.status_code == 404


async def test_other_workspaces_see_nothing_and_viewers_cannot_write(client, make_user) -> None:
    shared = await make_project(client, visibility="workspace", files={"a.py": "1\n"})
    private = await make_project(client, files={"a.py": "1\n"})
    outsider = await make_user("out@nexus.test", role="developer", workspace="Other")
    for project in (shared, private):
        url = f"{BASE}/{project['id']}"
        assert (await outsider.get(url)).status_code == 404
        assert (await outsider.get(f"{url}/files/a.py")).status_code == 404
        put = await outsider.put(f"{url}/files/a.py", json={"content": "pwned"})
        assert put.status_code == 404
    assert (await outsider.get(BASE)).json()["total"] == 0

    viewer = await make_user("view@nexus.test", role="viewer")  # the admin's workspace
    url = f"{BASE}/{shared['id']}"
    assert (await viewer.get(f"{url}/files/a.py")).json()["content"] == "1\n"
    assert (await viewer.put(f"{url}/files/a.py", json={"content": "2"})).status_code == 403
    assert (await viewer.get(f"{BASE}/{private['id']}")).status_code == 404
    assert (await client.get(f"{url}/files/a.py")).json()["version"] == 1

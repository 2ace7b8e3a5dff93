"""The web app's files at ``/``: assets, the single-page fallback, and the API's 404s kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.api.app import create_app
from nexus.settings import Settings


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "app-1234.js").write_text("console.log('nexus')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the dist directory")
    return root


@pytest.fixture
async def web(dist: Path, tmp_path: Path, connect):
    settings = Settings(home=tmp_path / "home", web_dist=dist)
    async with connect(create_app(settings)) as client:
        yield client


async def test_index_and_client_routes_serve_the_app(web) -> None:
    for path in ("/", "/workflows", "/workflows/wf_123/edit", "/settings/keys"):
        response = await web.get(path)
        assert response.status_code == 200, path
        assert response.text.startswith("<!doctype html>")
        assert response.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_assets_are_served_and_cached(web) -> None:
    response = await web.get("/assets/app-1234.js")
    assert response.status_code == 200
    assert response.text == "console.log('nexus')"
    assert "immutable" in response.headers["cache-control"]
    assert (await web.get("/favicon.svg")).text == "<svg/>"


async def test_missing_asset_and_unknown_api_path_are_json_404(web) -> None:
    for path in ("/assets/nope.js", "/api/v1/nope", "/api/v2/agents"):
        response = await web.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_no_file_outside_dist_is_served(web) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        response = await web.get(path)
        assert "outside the dist directory" not in response.text, path


async def test_without_a_build_the_root_explains_how_to_build(tmp_path: Path, connect) -> None:
    settings = Settings(home=tmp_path / "home", web_dist=tmp_path / "missing")
    async with connect(create_app(settings)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "make web" in response.text

"""Browser sessions and API tokens over HTTP: cookies, CSRF, logout, lock-out, login rate limit,
token revocation and expiry, and who sign-up lets in."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from nexus.store.tables import ApiTokenRow, BrowserSessionRow, utcnow

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@nexus.test"


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name in parsed:
            cookies[name] = parsed
    return cookies


async def login(http: httpx.AsyncClient, email: str = ADMIN_EMAIL) -> str:
    """Sign ``http`` in (the cookie jar keeps the session); returns the CSRF token."""
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


async def test_login_sets_an_httponly_samesite_lax_session_cookie(admin_token, anon) -> None:
    response = await anon.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = set_cookies(response)
    session = cookies["nexus_session"]["nexus_session"]
    assert session["httponly"] is True
    assert session["samesite"].lower() == "lax"
    assert session["path"] == "/"
    assert session.value != "" and session.value not in response.text
    # The CSRF cookie is meant for the page's script (double submit), the session never is.
    csrf = cookies["nexus_csrf"]["nexus_csrf"]
    assert csrf.value == response.json()["csrf_token"]
    assert not csrf["httponly"]


async def test_state_changing_requests_need_the_csrf_token(admin_token, anon) -> None:
    csrf = await login(anon)
    body = {"name": "from the browser"}
    missing = await anon.post("/api/v1/auth/tokens", json=body)
    assert (missing.status_code, missing.json()["error"]["code"]) == (403, "forbidden")
    wrong = await anon.post("/api/v1/auth/tokens", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "forbidden")
    other = await anon.post(
        "/api/v1/auth/tokens", json=body, headers={"X-CSRF-Token": csrf.upper()}
    )
    assert other.status_code == 403
    # Refused requests changed nothing: only the fixture's token exists.
    names = [t["name"] for t in (await anon.get("/api/v1/auth/tokens")).json()]
    assert names == ["tests"]
    right = await anon.post("/api/v1/auth/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201, right.text
    # Reads need no CSRF token.
    me = await anon.get("/api/v1/auth/me")
    assert (me.status_code, me.json()["auth"]) == (200, "session")


async def test_the_csrf_token_of_one_session_does_not_fit_another(
    admin_token, app: FastAPI, connect
) -> None:
    async with connect(app) as first, connect(app) as second:
        csrf_first = await login(first)
        await login(second)
        stolen = await second.post(
            "/api/v1/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf_first}
        )
        assert stolen.status_code == 403


async def test_logout_ends_the_session(admin_token, anon) -> None:
    csrf = await login(anon)
    secret = anon.cookies["nexus_session"]
    # Logging out is state-changing too: without the token it is refused and changes nothing.
    assert (await anon.post("/api/v1/auth/logout")).status_code == 403
    assert (await anon.get("/api/v1/auth/me")).status_code == 200
    out = await anon.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert "nexus_session" not in anon.cookies
    # Replaying the old cookie does not bring the session back.
    anon.cookies.set("nexus_session", secret)
    after = await anon.get("/api/v1/auth/me")
    assert (after.status_code, after.json()["error"]["code"]) == (401, "unauthenticated")


async def test_an_expired_session_is_refused(admin_token, app: FastAPI, anon) -> None:
    await login(anon)
    async with app.state.services.db.sessions.begin() as session:
        await session.execute(
            sa.update(BrowserSessionRow).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await anon.get("/api/v1/auth/me")).status_code == 401


async def test_five_wrong_passwords_lock_the_account(make_user, anon) -> None:
    await make_user("dev@nexus.test")
    wrong = {"email": "dev@nexus.test", "password": "not the password"}
    codes = []
    for _ in range(5):
        response = await anon.post("/api/v1/auth/login", json=wrong)
        codes.append((response.status_code, response.json()["error"]["code"]))
    assert codes == [(401, "unauthenticated")] * 4 + [(401, "account_locked")]
    right = await anon.post(
        "/api/v1/auth/login", json={"email": "dev@nexus.test", "password": PASSWORD}
    )
    assert (right.status_code, right.json()["error"]["code"]) == (401, "account_locked")
    assert "nexus_session" not in anon.cookies


async def test_unknown_email_and_wrong_password_answer_alike(make_user, anon) -> None:
    await make_user("dev@nexus.test")
    unknown = await anon.post(
        "/api/v1/auth/login", json={"email": "nobody@nexus.test", "password": "guess"}
    )
    wrong = await anon.post(
        "/api/v1/auth/login", json={"email": "dev@nexus.test", "password": "guess"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json() == {
        "error": {"code": "unauthenticated", "message": "invalid email or password"}
    }
    same = ("www-authenticate", "content-type", "content-length")
    assert [unknown.headers.get(h) for h in same] == [wrong.headers.get(h) for h in same]


async def test_logins_are_rate_limited_per_ip(admin_token, app: FastAPI, connect) -> None:
    limit = app.state.services.settings.login_rate_per_ip_per_minute
    bad = {"email": ADMIN_EMAIL, "password": "wrong"}
    async with (
        connect(app, ip="203.0.113.7") as attacker,
        connect(app, ip="198.51.100.2") as bystander,
    ):
        statuses = []
        for _ in range(limit + 1):
            statuses.append((await attacker.post("/api/v1/auth/login", json=bad)).status_code)
        # The wrong passwords lock the account after 5; the limiter still counts every try.
        assert statuses[:limit] == [401] * limit
        limited = await attacker.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        )
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Sign-up shares the login budget (it signs in too).
        signup = await attacker.post(
            "/api/v1/auth/signup", json={"email": "x@nexus.test", "password": PASSWORD}
        )
        assert signup.status_code == 429
        # Another address is not limited.
        other = await bystander.post(
            "/api/v1/auth/login", json={"email": "nobody@nexus.test", "password": "x"}
        )
        assert other.status_code == 401


async def test_a_revoked_token_stops_at_once(client, app: FastAPI, connect) -> None:
    created = await client.post("/api/v1/auth/tokens", json={"name": "ci"})
    assert created.status_code == 201
    token = created.json()
    async with connect(app, token["token"]) as ci:
        assert (await ci.get("/api/v1/auth/me")).status_code == 200
        revoked = await client.delete(f"/api/v1/auth/tokens/{token['id']}")
        assert revoked.status_code == 204
        after = await ci.get("/api/v1/auth/me")
        assert (after.status_code, after.json()["error"]["code"]) == (401, "unauthenticated")
        assert after.headers["www-authenticate"].lower().startswith("bearer")
    listed = {t["id"]: t for t in (await client.get("/api/v1/auth/tokens")).json()}
    assert listed[token["id"]]["revoked"] is True
    assert "token" not in listed[token["id"]]  # the plaintext is never listed


async def test_an_expired_token_is_refused(client, app: FastAPI, connect) -> None:
    created = await client.post("/api/v1/auth/tokens", json={"name": "ci", "expires_in_days": 1})
    token = created.json()
    async with connect(app, token["token"]) as ci:
        assert (await ci.get("/api/v1/auth/me")).status_code == 200
        async with app.state.services.db.sessions.begin() as session:
            await session.execute(
                sa.update(ApiTokenRow)
                .where(ApiTokenRow.id == token["id"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        after = await ci.get("/api/v1/auth/me")
        assert (after.status_code, after.json()["error"]["code"]) == (401, "unauthenticated")


async def test_signup_first_admin_then_closed_then_opened(anon, app: FastAPI, connect) -> None:
    assert (await anon.get("/api/v1/auth/status")).json() == {
        "has_users": False,
        "signup_open": True,
    }
    first = await anon.post(
        "/api/v1/auth/signup", json={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert first.status_code == 201, first.text
    assert first.json()["user"]["is_admin"] is True
    csrf = first.json()["csrf_token"]
    me = (await anon.get("/api/v1/auth/me")).json()
    assert me["role"] == "admin"

    async with connect(app) as stranger:
        second = await stranger.post(
            "/api/v1/auth/signup", json={"email": "dev@nexus.test", "password": PASSWORD}
        )
        assert (second.status_code, second.json()["error"]["code"]) == (403, "forbidden")
        # Only an admin opens sign-up: not the stranger, not without CSRF.
        assert (
            await stranger.put("/api/v1/auth/signup-open", json={"open": True})
        ).status_code == 401
        assert (await anon.put("/api/v1/auth/signup-open", json={"open": True})).status_code == 403
        opened = await anon.put(
            "/api/v1/auth/signup-open", json={"open": True}, headers={"X-CSRF-Token": csrf}
        )
        assert opened.json() == {"has_users": True, "signup_open": True}
        third = await stranger.post(
            "/api/v1/auth/signup", json={"email": "dev@nexus.test", "password": PASSWORD}
        )
        assert third.status_code == 201, third.text
        assert third.json()["user"]["is_admin"] is False
        me_dev = (await stranger.get("/api/v1/auth/me")).json()
        assert (me_dev["role"], me_dev["workspace_id"]) == ("developer", me["workspace_id"])

"""First run, sign-in and sign-out in the browser."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .browser_support import PASSWORD, NexusServer, PageFactory, save_screenshot


def test_first_run_creates_the_admin_then_login_and_logout(
    open_page: PageFactory, fresh_nexus: NexusServer
) -> None:
    page = open_page(fresh_nexus)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    save_screenshot(page, "screen-first-run")

    page.get_by_label("Email", exact=True).fill("first@nexus.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create admin account").click()

    expect(page.get_by_test_id("current-user")).to_contain_text("first@nexus.test")
    expect(page.get_by_test_id("current-user")).to_contain_text("admin")
    status = fresh_nexus_status(fresh_nexus)
    assert status["has_users"] is True

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    # Signed out for real: the session cookie no longer opens a signed-in screen.
    page.goto("/workflows")
    expect(page).to_have_url(re.compile(r"/login"))

    # A wrong password is refused with a visible reason, and nobody is signed in.
    page.get_by_label("Email", exact=True).fill("first@nexus.test")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("alert")).not_to_be_empty()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    save_screenshot(page, "screen-login")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text("first@nexus.test · admin")
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_a_signed_out_visitor_is_sent_to_login(open_page: PageFactory, nexus: NexusServer) -> None:
    page = open_page(nexus)
    page.goto("/agents")
    expect(page).to_have_url(re.compile(r"/login"))
    # The instance has users: the first-run screen is not offered again.
    expect(page.get_by_role("button", name="Create admin account")).to_have_count(0)


def fresh_nexus_status(server: NexusServer) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{server.url}/api/v1/auth/status", timeout=10).json()

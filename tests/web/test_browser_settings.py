"""Settings in the browser: a provider key is checked, stored and only ever shown masked."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .browser_support import GOOD_PROVIDER_KEY, NexusServer, save_screenshot


def test_add_a_provider_key_and_see_it_masked(page: Any, nexus: NexusServer) -> None:
    page.goto("/settings/keys")
    expect(page.get_by_role("button", name="Add key")).to_be_visible()

    # A key the provider rejects is refused with its reason, and nothing is stored.
    page.get_by_label("Provider", exact=True).select_option("openai")
    page.get_by_label("Name", exact=True).fill("rejected key")
    page.get_by_label("Secret", exact=True).fill("sk-nexus-browser-test-wrong-key-999")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("alert").filter(has_text="rejected")).to_be_visible()
    expect(page.get_by_test_id("api-key-row")).to_have_count(0)

    page.get_by_label("Name", exact=True).fill("team openai")
    page.get_by_label("Secret", exact=True).fill(GOOD_PROVIDER_KEY)
    page.get_by_role("button", name="Add key").click()

    row = page.get_by_test_id("api-key-row").filter(has_text="team openai")
    expect(row).to_have_count(1)
    masked = f"{GOOD_PROVIDER_KEY[:4]}…{GOOD_PROVIDER_KEY[-4:]}"
    expect(row).to_contain_text(masked)
    expect(row).to_contain_text("verified")
    expect(row).not_to_contain_text("not verified")
    expect(row).not_to_contain_text(GOOD_PROVIDER_KEY)
    save_screenshot(page, "screen-settings-keys")

    keys = nexus.api.get("/api/v1/users/api-keys").json()
    assert [(k["name"], k["masked"], k["verified"]) for k in keys] == [
        ("team openai", masked, True)
    ]

    # After a reload the list comes from the server, still masked, and the secret is nowhere.
    page.reload()
    expect(page.get_by_test_id("api-key-row").filter(has_text="team openai")).to_contain_text(
        masked
    )
    assert GOOD_PROVIDER_KEY not in page.content()

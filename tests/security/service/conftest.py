"""Fixtures for the accounts service tests in this directory: a migrated database of its own,
a settable clock and an ``Accounts`` on both (overriding the app-level ``accounts`` here only)."""

from __future__ import annotations

import pytest
from accounts_support import FAST, Clock

from nexus.security.accounts import Accounts
from nexus.store.db import Database


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(db: Database, clock: Clock) -> Accounts:
    return Accounts(db, clock=clock, hasher=FAST)

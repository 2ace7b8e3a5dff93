"""``CompiledAgentCache``: one compile per (specs, provider keys, tool registry version), least
recently used entries evicted past the bound, failures not cached, keys never stored."""

from __future__ import annotations

import hashlib

import pytest

from nexus.agents.compile_cache import CompiledAgentCache
from nexus.agents.compiler import AgentBundle, CompiledAgents, compile_bundle
from nexus.agents.spec import AgentSpec
from nexus.core.errors import NotFoundError
from nexus.tools.registry import default_registry

KEY = "sk-cache-test-0123456789abcdef"


def bundle(name: str = "a", **fields) -> dict:
    spec = AgentSpec.model_validate({"name": name, "model": f"test:{name}", **fields})
    return AgentBundle(spec).to_dict()


class Builds:
    """A ``build`` callable that counts its calls and returns a new object each time."""

    def __init__(self, providers) -> None:
        self.calls = 0
        self.providers = providers

    def __call__(self) -> CompiledAgents:
        self.calls += 1
        spec = AgentSpec(name=f"built{self.calls}", model="test:built")
        self.providers.scripted("built")
        return compile_bundle(
            AgentBundle(spec), models=self.providers.get_model, tools=default_registry()
        )


def test_the_same_key_compiles_once(providers) -> None:
    cache, build = CompiledAgentCache(), Builds(providers)
    first = cache.get_or_compile(cache.key(bundle(), {"openai": KEY}, 3), build)
    again = cache.get_or_compile(cache.key(bundle(), {"openai": KEY}, 3), build)
    assert again is first
    assert (build.calls, cache.hits, cache.misses, len(cache)) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    "changed",
    [
        (bundle(instructions="Be brief."), {"openai": KEY}, 3),  # edited spec
        (bundle(), {"openai": KEY + "x"}, 3),  # rotated key
        (bundle(), {}, 3),  # key removed: the setting's key applies
        (bundle(), {"anthropic": KEY}, 3),  # same secret, other provider
        (bundle(), {"openai": KEY}, 4),  # a tool was (un)registered
    ],
)
def test_any_input_of_the_compile_changes_the_key(providers, changed) -> None:
    cache = CompiledAgentCache()
    assert cache.key(bundle(), {"openai": KEY}, 3) != cache.key(*changed)


def test_key_order_inside_the_specs_does_not_matter() -> None:
    cache = CompiledAgentCache()
    data = bundle(instructions="x")
    reordered = {"agents": data["agents"], "agent": dict(reversed(list(data["agent"].items())))}
    keys = {"openai": KEY, "anthropic": "sk-other"}
    assert cache.key(data, keys, 0) == cache.key(reordered, dict(reversed(keys.items())), 0)


def test_least_recently_used_entries_are_evicted(providers) -> None:
    cache, build = CompiledAgentCache(max_entries=2), Builds(providers)
    a, b, c = (cache.key(bundle(name), {}, 0) for name in ("a", "b", "c"))
    cache.get_or_compile(a, build)
    cache.get_or_compile(b, build)
    cache.get_or_compile(a, build)  # a is now the most recently used
    cache.get_or_compile(c, build)  # evicts b
    assert (len(cache), build.calls) == (2, 3)
    cache.get_or_compile(a, build)
    assert build.calls == 3
    cache.get_or_compile(b, build)  # compiled again
    assert (len(cache), build.calls, cache.hits, cache.misses) == (2, 4, 2, 4)


def test_a_failed_compile_is_not_cached(providers) -> None:
    cache = CompiledAgentCache()
    key = cache.key(bundle(), {}, 0)

    def failing() -> CompiledAgents:
        raise NotFoundError("unknown tool 'nope'")

    with pytest.raises(NotFoundError):
        cache.get_or_compile(key, failing)
    assert len(cache) == 0
    build = Builds(providers)
    cache.get_or_compile(key, build)
    assert build.calls == 1


def test_keys_are_neither_stored_nor_hashed_plainly() -> None:
    cache = CompiledAgentCache()
    _digest, fingerprint, _version = cache.key(bundle(), {"openai": KEY}, 0)
    assert KEY.encode() not in fingerprint
    assert fingerprint != hashlib.sha256(KEY.encode()).digest()
    # Salted per cache: another cache (another process) cannot match a guessed key against it.
    assert CompiledAgentCache().key(bundle(), {"openai": KEY}, 0)[1] != fingerprint


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CompiledAgentCache(max_entries=0)

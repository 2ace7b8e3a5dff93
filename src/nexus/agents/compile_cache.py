"""A bounded LRU cache of compiled agents, so repeated runs of one agent skip ``compile_bundle``.

Building SDK ``Agent``s (type-hint introspection, model-settings copies, strict tool schemas)
costs about half a millisecond per run. A compiled bundle depends only on the specs it was built
from, the provider keys its models were resolved with, and the tool registry's contents; the key
covers all three, so an edited spec, a rotated or revoked key, or a (un)registered tool compiles
again.

Sharing is safe: a compiled bundle holds no per-run state. The SDK keeps a run's state in its
run context and result objects and explicitly supports concurrent runs of one ``Agent`` whose
tools list is left unchanged (we never change it after compiling). Models are already shared
per provider key by the provider registry; guardrails and output types are stateless.

Provider keys never enter the cache: only a keyed BLAKE2b digest of them, under a random salt
that lives as long as the cache, so the digest cannot be checked against a guessed key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from nexus.agents.compiler import CompiledAgents

DEFAULT_MAX_ENTRIES = 128

CacheKey = tuple[bytes, bytes, int]


class CompiledAgentCache:
    """Compiled bundles by (bundle JSON digest, provider-key fingerprint, tool registry version)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, CompiledAgents] = OrderedDict()
        self._salt = secrets.token_bytes(32)
        self.hits = 0
        self.misses = 0

    def key(
        self, bundle_dict: Mapping[str, Any], keys: Mapping[str, str], tools_version: int
    ) -> CacheKey:
        """The cache key of a bundle (``AgentBundle.to_dict()``) compiled with ``keys``
        (provider → API key) against a tool registry at ``tools_version``."""
        canonical = json.dumps(bundle_dict, sort_keys=True, separators=(",", ":"))
        return (
            hashlib.sha256(canonical.encode()).digest(),
            self._fingerprint(keys),
            tools_version,
        )

    def get_or_compile(self, key: CacheKey, build: Callable[[], CompiledAgents]) -> CompiledAgents:
        """The bundle cached under ``key``, else ``build()``'s result (cached only if it
        returns: a compile error is raised again on the next attempt)."""
        compiled = self._entries.get(key)
        if compiled is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return compiled
        self.misses += 1
        compiled = build()
        self._entries[key] = compiled
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return compiled

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _fingerprint(self, keys: Mapping[str, str]) -> bytes:
        digest = hashlib.blake2b(key=self._salt, digest_size=32)
        for provider in sorted(keys):
            for part in (provider, keys[provider]):
                data = part.encode()
                # Length-prefixed, so no two different key sets hash the same byte stream.
                digest.update(len(data).to_bytes(4, "big"))
                digest.update(data)
        return digest.digest()

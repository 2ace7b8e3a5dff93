"""Shared nouns with no dependencies: ids, errors, run statuses, events, usage."""

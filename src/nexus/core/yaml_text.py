"""YAML export that reads back exactly: readable block style, Unicode kept, and strings holding
characters PyYAML would fold as line breaks (NEL, LS, PS) written double-quoted."""

from __future__ import annotations

from typing import Any

import yaml


class _ExactDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(c in value for c in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_ExactDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_ExactDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )

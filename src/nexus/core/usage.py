"""Token usage, counted per model id."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelUsage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class RunUsage:
    """Usage of one run: a ``ModelUsage`` per ``provider:model`` id."""

    by_model: dict[str, ModelUsage] = field(default_factory=dict)

    def add(self, model: str, *, requests: int, input_tokens: int, output_tokens: int) -> None:
        entry = self.by_model.setdefault(model, ModelUsage())
        entry.requests += requests
        entry.input_tokens += input_tokens
        entry.output_tokens += output_tokens

    def merge(self, other: RunUsage) -> None:
        """Add every model's usage in ``other`` to this one."""
        for model, u in other.by_model.items():
            self.add(
                model,
                requests=u.requests,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
            )

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> RunUsage:
        """The usage ``to_dict`` wrote (its ``by_model`` part; totals are recomputed)."""
        usage = cls()
        by_model = (data or {}).get("by_model")
        if isinstance(by_model, dict):
            for model, u in by_model.items():
                usage.add(
                    str(model),
                    requests=int(u.get("requests", 0)),
                    input_tokens=int(u.get("input_tokens", 0)),
                    output_tokens=int(u.get("output_tokens", 0)),
                )
        return usage

    @property
    def requests(self) -> int:
        return sum(u.requests for u in self.by_model.values())

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in self.by_model.values())

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in self.by_model.values())

    def to_dict(self, *, totals: bool = False) -> dict[str, object]:
        """``totals`` adds ``requests`` and ``total_tokens``, overall and per model."""
        if not totals:
            return {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "by_model": {
                    model: {
                        "requests": u.requests,
                        "input_tokens": u.input_tokens,
                        "output_tokens": u.output_tokens,
                    }
                    for model, u in self.by_model.items()
                },
            }
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "by_model": {
                model: {
                    "requests": u.requests,
                    "input_tokens": u.input_tokens,
                    "output_tokens": u.output_tokens,
                    "total_tokens": u.input_tokens + u.output_tokens,
                }
                for model, u in self.by_model.items()
            },
        }

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

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in self.by_model.values())

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in self.by_model.values())

    def to_dict(self) -> dict[str, object]:
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

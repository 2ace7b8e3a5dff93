"""Settings, read from ``NEXUS_*`` environment variables (and ``.env``) by pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CompatProvider(BaseModel):
    """An OpenAI-compatible endpoint addressed as ``<name>:<model>``."""

    base_url: str
    api_key: str | None = None
    models: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEXUS_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(default=Path(".nexus"), description="Data directory (NEXUS_HOME).")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in NEXUS_HOME."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    web_dist: Path | None = Field(
        default=None, description="Built web app to serve at / (default: web/dist of the checkout)."
    )

    default_model: str = "local:smollm2-135m"
    local_n_ctx: int = 4096
    local_max_tokens: int = 512
    local_threads: int | None = None

    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_api_key: str | None = None
    anthropic_base_url: str = "https://api.anthropic.com/v1/"
    ollama_base_url: str = "http://127.0.0.1:11434/v1"
    compat_providers: dict[str, CompatProvider] = Field(
        default_factory=dict,
        description='JSON, e.g. {"vllm": {"base_url": "http://host:8000/v1", "models": ["m"]}}',
    )

    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty = same-origin only."
    )
    max_body_bytes: int = Field(default=2_000_000, ge=1_024)
    secure_cookies: bool = Field(default=False, description="Set for HTTPS deployments.")
    session_ttl_hours: float = Field(default=12.0, gt=0)
    run_rate_per_minute: int = Field(default=60, ge=1, description="Runs per user or token.")
    run_rate_per_ip_per_minute: int = Field(default=120, ge=1)
    login_rate_per_ip_per_minute: int = Field(default=10, ge=1)

    max_field_chars: int = 100_000
    max_run_input_chars: int = 100_000
    run_timeout_s: float = 600.0

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.home / 'nexus.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

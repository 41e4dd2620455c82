"""Server settings: environment variables (``XRM_*``), an optional TOML file, defaults.

Read with pydantic-settings (decision 0021). Precedence, highest first: values
passed in code, environment variables, the file named by ``XRM_CONFIG``, the
defaults — which run the embedded SQLite database with no configuration at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: The environment variable naming the optional configuration file.
CONFIG_VARIABLE = "XRM_CONFIG"


class Settings(BaseSettings):
    """How the server runs. Each field ``name`` is read from ``XRM_NAME``."""

    model_config = SettingsConfigDict(env_prefix="XRM_", extra="forbid", frozen=True)

    #: SQLAlchemy URL of the database.
    database_url: str = "sqlite:///xrm.db"
    #: Signs what the server signs (sessions of the admin UI); set it in production.
    secret_key: SecretStr | None = None
    #: Send the admin UI's session cookie over HTTPS only (set it behind TLS).
    secure_cookies: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: Where values dropped by schema changes and uninstalls are exported.
    export_dir: Path | None = None
    #: Requests one client (token, or address without one) may make per minute.
    rate_limit: int = Field(600, ge=1)
    #: How many of them may come at once, above the steady rate.
    rate_burst: int = Field(60, ge=1)
    #: The largest request body accepted, in bytes.
    max_body: int = Field(10 * 1024 * 1024, ge=1024)
    #: API calls worked on at once, each in a thread (see xrm_core/api/threads.py).
    api_threads: int = Field(2, ge=1, le=64)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_VARIABLE)
        if config:
            if not Path(config).is_file():
                raise ValueError(f"{CONFIG_VARIABLE}={config}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and the configuration file, with ``overrides``."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

"""grid-signal settings: the common ones plus the scenario it publishes."""

from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings


class GridSignalSettings(ServiceSettings):
    service_name: str = "grid-signal"
    scenario: Path

"""The uninterrupted seed day every hurt run is compared with (one per session)."""

from __future__ import annotations

import asyncio

import pytest

from tests.reliability.harness import Day, run_day


@pytest.fixture(scope="session")
def reference(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Day:
    return asyncio.run(run_day(kafka_bootstrap, tmp_path_factory.mktemp("reference")))

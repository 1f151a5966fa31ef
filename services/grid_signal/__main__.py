"""Run grid-signal (GridFlexAgent): `python -m services.grid_signal`."""

import asyncio

from services.common.service import configure_logging, run_service
from services.grid_signal.bootstrap import bootstrap
from services.grid_signal.settings import GridSignalSettings

if __name__ == "__main__":
    settings = GridSignalSettings()  # type: ignore[call-arg]
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

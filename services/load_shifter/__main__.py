"""Run the load-shifter: `python -m services.load_shifter`."""

import asyncio

from services.common.service import configure_logging, run_service
from services.load_shifter.bootstrap import bootstrap
from services.load_shifter.settings import LoadShifterSettings

if __name__ == "__main__":
    settings = LoadShifterSettings()
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

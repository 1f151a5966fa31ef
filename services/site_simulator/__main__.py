"""Run the site simulator: `python -m services.site_simulator`."""

import asyncio

from services.common.service import configure_logging, run_service
from services.site_simulator.bootstrap import bootstrap
from services.site_simulator.settings import SiteSimulatorSettings

if __name__ == "__main__":
    settings = SiteSimulatorSettings()
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

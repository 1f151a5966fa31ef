"""Run the CompFlex planner: `python -m services.planner`."""

import asyncio

from services.common.service import configure_logging, run_service
from services.planner.bootstrap import bootstrap
from services.planner.settings import PlannerSettings

if __name__ == "__main__":
    settings = PlannerSettings()
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

"""Run the metering validator: `python -m services.metering_validator`."""

import asyncio

from services.common.service import configure_logging, run_service
from services.metering_validator.bootstrap import bootstrap
from services.metering_validator.settings import MeteringValidatorSettings

if __name__ == "__main__":
    settings = MeteringValidatorSettings()
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

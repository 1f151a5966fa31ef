"""Run settlement: `python -m services.settlement`."""

import asyncio

from services.common.live import live_router
from services.common.service import configure_logging, run_service
from services.settlement.bootstrap import bootstrap
from services.settlement.live import LiveView, page
from services.settlement.settings import SettlementSettings

if __name__ == "__main__":
    settings = SettlementSettings()
    configure_logging(settings.service_name)
    view = LiveView()
    asyncio.run(run_service(bootstrap(settings, live=view), [live_router(view, page())]))

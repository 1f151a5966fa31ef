"""Run the site agent: `python -m services.site_agent` (DEGFLEX_SITE_IDS is required)."""

import asyncio

from services.common.service import configure_logging, run_service
from services.site_agent.bootstrap import bootstrap
from services.site_agent.settings import SiteAgentSettings

if __name__ == "__main__":
    settings = SiteAgentSettings()  # type: ignore[call-arg]  # site_ids comes from the env
    configure_logging(settings.service_name)
    asyncio.run(run_service(bootstrap(settings)))

"""Run the audit log writer: `python -m services.audit`."""

import asyncio

from services.audit.bootstrap import bootstrap, recover
from services.audit.settings import AuditSettings
from services.common.service import configure_logging, run_service


async def main(settings: AuditSettings) -> None:
    chain = await recover(settings)
    await run_service(bootstrap(settings, chain))


if __name__ == "__main__":
    settings = AuditSettings()
    configure_logging(settings.service_name)
    asyncio.run(main(settings))

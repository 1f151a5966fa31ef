"""settlement settings (the common ones)."""

from services.common.settings import ServiceSettings


class SettlementSettings(ServiceSettings):
    service_name: str = "settlement"

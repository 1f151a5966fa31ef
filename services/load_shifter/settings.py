"""load-shifter settings (the common ones)."""

from services.common.settings import ServiceSettings


class LoadShifterSettings(ServiceSettings):
    service_name: str = "load-shifter"

"""metering-validator settings (the common ones)."""

from services.common.settings import ServiceSettings


class MeteringValidatorSettings(ServiceSettings):
    service_name: str = "metering-validator"

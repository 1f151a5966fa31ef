"""Zone signal sources: the Carbon Intensity API regional shape, Agile price CSVs, trace replay."""

from services.grid_signal.sources.agile import (
    parse_agile_derived,
    parse_agile_export,
    read_agile_derived,
    read_agile_export,
)
from services.grid_signal.sources.carbon_intensity_api import (
    CarbonIntensityApiError,
    parse_regional,
    regional_url,
    renewable_share,
)
from services.grid_signal.sources.model import (
    Filled,
    GapTooLongError,
    SignalPoint,
    SourceError,
    align,
    dedupe,
    fill_gaps,
    parse_utc,
)
from services.grid_signal.sources.trace_csv import (
    load_june_2023,
    parse_regional_ci_csv,
    read_regional_ci_csv,
)

__all__ = [
    "CarbonIntensityApiError", "Filled", "GapTooLongError", "SignalPoint", "SourceError",
    "align", "dedupe", "fill_gaps", "load_june_2023", "parse_agile_derived",
    "parse_agile_export", "parse_regional", "parse_regional_ci_csv", "parse_utc",
    "read_agile_derived", "read_agile_export", "read_regional_ci_csv", "regional_url",
    "renewable_share",
]

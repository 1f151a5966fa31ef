"""Parse GB Carbon Intensity API regional responses (api.carbonintensity.org.uk) into SignalPoints.

Pure: takes the decoded JSON body, opens no sockets. Shapes accepted (see README.md):
- by region over a range, `/regional/intensity/{from}/{to}/regionid/{id}` and the
  `.../{from}/fw24h/regionid/{id}` family: `{"data": {"regionid", "dnoregion", "shortname",
  "data": [period, ...]}}`;
- by region or postcode, current (`/regional/regionid/{id}`, `/regional/postcode/{pc}`): the same
  region object inside a list, `{"data": [{"regionid", ..., "data": [period, ...]}]}`;
- all regions per period (`/regional`, `/regional/intensity/{from}/fw24h`, `.../{from}/{to}`):
  `{"data": [{"from", "to", "regions": [{"regionid", ..., "intensity", "generationmix"}]}]}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.grid_signal.sources.model import (
    Keep,
    SignalPoint,
    SourceError,
    as_utc,
    dedupe,
    parse_utc,
)

BASE_URL = "https://api.carbonintensity.org.uk"
MAX_RANGE = timedelta(days=14)
SOURCE = "carbon-intensity-api"

REGION_ZONES: Mapping[int, str] = {10: "UK-EAST", 3: "UK-NW"}
"""Region 10 = East England (UKPN East; Cambridge), region 3 = North West England (Electricity
North West; Manchester)."""

RENEWABLE_FUELS = frozenset({"wind", "solar", "hydro"})
BIOMASS = "biomass"


class CarbonIntensityApiError(SourceError):
    """The API answered with an error body: `{"error": {"code": ..., "message": ...}}`."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"Carbon Intensity API error {code}: {message}")


def _api_time(t: datetime) -> str:
    return as_utc(t).strftime("%Y-%m-%dT%H:%MZ")


def regional_url(region_id: int, start: datetime, end: datetime, *, base: str = BASE_URL) -> str:
    """`{base}/regional/intensity/{from}/{to}/regionid/{region_id}`, times as YYYY-MM-DDThh:mmZ
    in UTC. The API allows at most 14 days a call; longer ranges are refused here. The range
    route is reported to return every half-hour whose *end* lies in [from, to], so the first
    period may start 30 min before `start`: `align` drops it."""
    if not 1 <= region_id <= 18:
        raise ValueError(f"region id {region_id} is not 1–18")
    if as_utc(end) <= as_utc(start):
        raise ValueError(f"end {end} is not after start {start}")
    if as_utc(end) - as_utc(start) > MAX_RANGE:
        raise ValueError(f"{end - start} is longer than the API's {MAX_RANGE.days}-day maximum")
    return (f"{base.rstrip('/')}/regional/intensity/{_api_time(start)}/{_api_time(end)}"
            f"/regionid/{region_id}")


def renewable_share(mix: Iterable[Mapping[str, Any]] | None, *,
                    include_biomass: bool = True) -> float | None:
    """Sum of `perc` over wind, solar, hydro (and biomass when `include_biomass`), in percent;
    None when the mix is missing or empty."""
    if not mix:
        return None
    fuels = RENEWABLE_FUELS | {BIOMASS} if include_biomass else RENEWABLE_FUELS
    total = 0.0
    for row in mix:
        fuel = str(row.get("fuel", "")).strip().lower()
        perc = row.get("perc")
        if fuel in fuels and perc is not None:
            total += float(perc)
    return round(total, 3)


def _point(zone: str, rid: int, period: Mapping[str, Any], body: Mapping[str, Any],
           include_biomass: bool) -> SignalPoint:
    """`period` carries from/to; `body` carries intensity and generationmix (the same object in
    the by-region shape, the region entry in the all-regions shape)."""
    try:
        start = parse_utc(str(period["from"]), naive_is_utc=True)
        end = parse_utc(str(period["to"]), naive_is_utc=True)
    except KeyError as e:
        raise SourceError(f"region {rid}: period without {e}: {dict(period)!r}") from e
    forecast = (body.get("intensity") or {}).get("forecast")
    try:
        carbon = None if forecast is None else float(forecast)
    except (TypeError, ValueError) as e:
        raise SourceError(f"region {rid} at {period['from']}: forecast {forecast!r}") from e
    return SignalPoint(
        zone=zone, start=start, end=end, carbon_g_per_kwh=carbon, price_gbp_per_kwh=None,
        renewable_pct=renewable_share(body.get("generationmix"), include_biomass=include_biomass),
        source=f"{SOURCE}:region-{rid}")


def _region_id(region: Mapping[str, Any]) -> int:
    try:
        return int(region["regionid"])
    except (KeyError, TypeError, ValueError) as e:
        keys = sorted(k for k in region if k != "data")
        raise SourceError(f"region object without an integer regionid (keys {keys})") from e


def _by_region(region: Mapping[str, Any], zones: Mapping[int, str],
               include_biomass: bool) -> list[SignalPoint]:
    rid = _region_id(region)
    if rid not in zones:
        raise SourceError(f"region {rid} ({region.get('shortname')}) has no zone: pass zones=")
    return [_point(zones[rid], rid, period, period, include_biomass)
            for period in region.get("data") or []]


def _by_period(period: Mapping[str, Any], zones: Mapping[int, str],
               include_biomass: bool) -> list[SignalPoint]:
    return [_point(zones[rid], rid, period, region, include_biomass)
            for region in period.get("regions") or []
            if (rid := _region_id(region)) in zones]


def parse_regional(doc: Mapping[str, Any], *, zones: Mapping[int, str] = REGION_ZONES,
                   include_biomass: bool = True, keep: Keep = "first") -> list[SignalPoint]:
    """SignalPoints (carbon = the regional `intensity.forecast`, gCO2/kWh; renewable share from
    `generationmix`; no price) for every mapped region in a regional response, sorted by zone
    then start, one per (zone, period).

    Survives the API's quirks: `{}`, `{"data": []}` and a region with `"data": []` give [];
    missing periods are left missing (gaps: see `align`/`fill_gaps`); a null or absent forecast
    gives carbon None for that period; a period listed twice is merged (`keep` decides between
    differing values); timestamps with or without seconds. An error body raises
    CarbonIntensityApiError. In the all-regions shape, regions not in `zones` are skipped; a
    by-region response for an unmapped region is refused."""
    if not isinstance(doc, Mapping):
        raise SourceError(f"response body is not a JSON object: {type(doc).__name__}")
    if "error" in doc:
        err = doc["error"] if isinstance(doc["error"], Mapping) else {"message": doc["error"]}
        raise CarbonIntensityApiError(str(err.get("code", "?")), str(err.get("message", "")))
    data = doc.get("data")
    if not data:
        return []
    points: list[SignalPoint] = []
    if isinstance(data, Mapping):
        points = _by_region(data, zones, include_biomass)
    elif isinstance(data, list):
        for item in data:
            if not isinstance(item, Mapping):
                raise SourceError(f"unexpected item in data: {item!r}")
            if "regionid" in item:
                points += _by_region(item, zones, include_biomass)
            elif "regions" in item:
                points += _by_period(item, zones, include_biomass)
            else:
                raise SourceError(f"not a regional response (a national /intensity body?): "
                                  f"item keys {sorted(item)}")
    else:
        raise SourceError(f"unexpected data of type {type(data).__name__}")
    return dedupe(points, keep=keep)

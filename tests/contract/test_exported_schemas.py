"""The committed contract files equal what the exporter generates, and the JSON-LD context
defines exactly the terms the ComputeEnergy bags use, with datatypes matching the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel

from contracts.beckn.conformance import supported_actions
from contracts.compute_energy.export import BAGS, SCHEMA_PATH, TOP_LEVEL
from contracts.compute_energy.vocab import (
    CE_CONTEXT,
    ComputeEnergyWindow,
    FlexibilityAction,
    GridStressEvent,
    OrderItemSettlement,
    OrderLine,
    SettlementMetrics,
    ShiftAction,
)
from contracts.events import EVENT_TYPES
from contracts.export import EVENTS_PATH, TOPICS_PATH, outputs
from contracts.topics import CATALOGUE

CONTEXT_PATH = SCHEMA_PATH.with_name("context.jsonld")
CE_VOCAB = "https://schemas.degflex.org/ComputeEnergy/v1/vocab#"
XSD = "http://www.w3.org/2001/XMLSchema#"
T0 = datetime(2025, 11, 17, 14, tzinfo=UTC)
T1 = datetime(2025, 11, 17, 16, tzinfo=UTC)


def load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def context_terms() -> dict[str, Any]:
    return load(CONTEXT_PATH)["@context"]


def format_checker() -> FormatChecker:
    """date-time asserted without optional libraries: RFC 3339 with an offset."""
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or (
            "T" in value.upper() and datetime.fromisoformat(value).tzinfo is not None)

    return checker


def validator(path: Path) -> Draft202012Validator:
    return Draft202012Validator(load(path), format_checker=format_checker())


def def_validator(name: str) -> Draft202012Validator:
    """Validates against one `$defs` entry of schema.json (not the root `oneOf`)."""
    schema = {k: v for k, v in load(SCHEMA_PATH).items() if k != "oneOf"}
    return Draft202012Validator(schema | {"$ref": f"#/$defs/{name}"},
                                format_checker=format_checker())


def samples() -> list[BaseModel]:
    """One of each bag as our services fill it in (optional terms set)."""
    shift = ShiftAction(action="pause_job", site_id="cambridge-east", power_kw=300, start=T0,
                        end=T1, reason="stress-uk-east-1400")
    item = OrderItemSettlement(ordered_item="window-uk-east-1400-1800",
                               line_id="batch-a@window-uk-east-1400-1800", slot_start=T0,
                               slot_end=T1, energy_kwh=1500, cost_gbp=198, carbon_kg=201,
                               baseline_energy_kwh=2400, baseline_cost_gbp=316.8,
                               baseline_carbon_kg=321.6, verified_flexibility_kwh=900,
                               flex_payment_gbp=135)
    return [
        ComputeEnergyWindow(grid_zone="UK-EAST", grid_area="Cambridge-East", start=T0, end=T1,
                            renewable_pct=62, carbon_intensity_g_per_kwh=86,
                            price_gbp_per_kwh=0.102, capacity_kw=1500,
                            stress_surcharge_gbp_per_kwh=0.03),
        OrderLine(site_id="cambridge-east", grid_zone="UK-EAST", slot_start=T0, slot_end=T1,
                  compute_load_kw=1200, capacity_kw=1500, gpu_hours=3200, energy_kwh=2400,
                  carbon_target_g_per_kwh=150, job_ids=("batch-a",), confirmed_capacity_kw=1500),
        GridStressEvent(event_id="stress-uk-east-1400", grid_zone="UK-EAST", start=T0, end=T1,
                        renewable_pct=45, carbon_intensity_g_per_kwh=134,
                        price_delta_gbp_per_kwh=0.03, requested_reduction_kw=450,
                        utilisation_payment_gbp_per_mwh=150),
        FlexibilityAction(event_id="stress-uk-east-1400", role="stressed_site", reduction_kw=450,
                          shifted_kw=300, battery_kw=150, new_compute_load_kw=900,
                          actions=(shift,), accepted=True),
        SettlementMetrics(energy_kwh=6633.3, cost_gbp=711.0, carbon_kg=399.8,
                          baseline_energy_kwh=7200, baseline_cost_gbp=806.4,
                          baseline_carbon_kg=494.4, verified_flexibility_kwh=900,
                          delivered_pct=100, flex_payment_gbp=135,
                          utilisation_payment_gbp=135, availability_payment_gbp=0,
                          performance_factor=1, battery_recharge_cost_gbp=23.33,
                          battery_losses_kwh=33.333, marginal_carbon_kg=1990,
                          baseline_marginal_carbon_kg=2160, items=(item,)),
        shift,
        item,
    ]


def wire(bag: BaseModel) -> dict[str, Any]:
    return bag.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---- drift ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "text"), outputs(), ids=lambda v: getattr(v, "name", ""))
def test_committed_export_matches_the_models(path: Path, text: str) -> None:
    assert path.exists(), f"{path} is missing: run python -m contracts.export"
    assert path.read_text("utf-8") == text, (
        f"{path} is stale: the models changed; run python -m contracts.export and commit")


def test_exporter_check_mode_agrees() -> None:
    from contracts.export import main

    assert main(["--check"]) == 0


# ---- the JSON-LD context --------------------------------------------------------------------


def bag_terms(model: type[BaseModel]) -> set[str]:
    return {f.alias for f in model.model_fields.values() if f.alias and f.alias[0] != "@"}


def test_every_term_the_bags_use_is_defined_in_the_context() -> None:
    terms = context_terms()
    for model in BAGS:
        missing = sorted(bag_terms(model) - set(terms))
        assert not missing, f"{model.__name__}: terms not in context.jsonld: {missing}"


def test_every_bag_type_expands_into_our_vocabulary() -> None:
    terms = context_terms()
    assert terms["ce"] == CE_VOCAB
    for model in BAGS:
        prefix, _, name = model.model_fields["type_"].default.partition(":")
        assert prefix == "ce" and name.isidentifier() and name[0].isupper()


def test_context_defines_no_term_the_bags_do_not_use() -> None:
    used = set().union(*(bag_terms(m) for m in BAGS))
    prefixes = {"ce", "schema", "xsd"}
    assert set(context_terms()) - prefixes == used


def test_each_term_has_its_own_iri_so_compaction_gives_our_names_back() -> None:
    iris = [t["@id"] for k, t in context_terms().items() if isinstance(t, dict)]
    assert len(iris) == len(set(iris))


def test_the_bags_context_url_is_this_file() -> None:
    assert CE_CONTEXT.endswith("/ComputeEnergy/v1/context.jsonld")
    for model in BAGS:
        assert model.model_fields["context"].default == CE_CONTEXT


def _datatype(prop: dict[str, Any]) -> str | None:
    kinds = [prop, *prop.get("anyOf", [])]
    for k in kinds:
        if k.get("format") == "date-time":
            return "xsd:dateTime"
        if k.get("type") == "number":
            return "xsd:double"
        if k.get("type") == "boolean":
            return "xsd:boolean"
    return None


def test_context_datatypes_match_the_model_fields() -> None:
    """Numbers are xsd:double (not xsd:decimal: JSON-LD toRdf writes a fractional JSON number
    as "1.02E-1", which is not a valid xsd:decimal literal), times xsd:dateTime, strings plain."""
    terms = context_terms()
    defs = load(SCHEMA_PATH)["$defs"]
    for model in BAGS:
        for alias, prop in defs[model.__name__]["properties"].items():
            if alias[0] == "@":
                continue
            assert terms[alias].get("@type") == _datatype(prop), f"{model.__name__}.{alias}"


def test_identifiers_are_plain_strings_not_iris() -> None:
    """Site, zone, event and job ids are local names; @id coercion would turn them into
    IRIs relative to the document base."""
    for term in ("siteId", "gridZone", "gridArea", "eventId", "jobIds"):
        assert "@type" not in context_terms()[term]


# ---- schema.json ------------------------------------------------------------------------------


def test_schema_files_are_valid_2020_12() -> None:
    for path in (SCHEMA_PATH, EVENTS_PATH):
        Draft202012Validator.check_schema(load(path))


def test_schema_root_accepts_exactly_the_top_level_bags() -> None:
    root = validator(SCHEMA_PATH)
    for bag in samples():
        assert root.is_valid(wire(bag)) == (type(bag) in TOP_LEVEL), type(bag).__name__


@pytest.mark.parametrize("bag", samples(), ids=lambda b: type(b).__name__)
def test_bag_fits_its_schema_definition(bag: BaseModel) -> None:
    assert list(def_validator(type(bag).__name__).iter_errors(wire(bag))) == []


def required_cases() -> list[tuple[str, str]]:
    defs = load(SCHEMA_PATH)["$defs"]
    return [(m.__name__, key) for m in BAGS for key in defs[m.__name__]["required"]]


@pytest.mark.parametrize(("model", "key"), required_cases(),
                         ids=[f"{m}-{k}" for m, k in required_cases()])
def test_bag_missing_a_required_term_fails_the_schema(model: str, key: str) -> None:
    bag = next(wire(b) for b in samples() if type(b).__name__ == model)
    del bag[key]
    errors = list(def_validator(model).iter_errors(bag))
    assert [e.validator for e in errors] == ["required"]
    assert f"'{key}' is a required property" in errors[0].message


def test_required_terms_are_the_ones_the_models_require() -> None:
    """The schema is no looser than the decoders: each model rejects the bag without them."""
    defs = load(SCHEMA_PATH)["$defs"]
    for bag in samples():
        model = type(bag)
        # @context and @type are defaulted in the models but required on the wire (Beckn
        # Attributes needs both; Order.beckn:orderAttributes is discriminated on @type).
        for key in (k for k in defs[model.__name__]["required"] if k[0] != "@"):
            doc = wire(bag)
            del doc[key]
            with pytest.raises(ValueError):
                model.model_validate(doc)


@pytest.mark.parametrize("mutation", ["unknown term", "wrong @type", "wrong @context",
                                      "naive time", "negative capacity"])
def test_schema_rejects_malformed_window(mutation: str) -> None:
    doc = wire(samples()[0])
    match mutation:
        case "unknown term":
            doc["gridParameters"] = {"renewableMix": 80}
        case "wrong @type":
            doc["@type"] = "beckn:ComputeEnergyWindow"
        case "wrong @context":
            doc["@context"] = ("https://raw.githubusercontent.com/beckn/protocol-specifications-"
                               "new/refs/heads/draft/schema/ComputeEnergy/v1/context.jsonld")
        case "naive time":
            doc["start"] = "10:00:00Z"
        case "negative capacity":
            doc["capacityKw"] = -1
    assert not validator(SCHEMA_PATH).is_valid(doc)


def test_bags_are_placed_where_the_beckn_models_carry_them() -> None:
    defs = load(SCHEMA_PATH)["$defs"]
    assert defs["ComputeEnergyWindow"]["x-beckn-placement"] == ["Item.beckn:itemAttributes"]
    assert defs["OrderLine"]["x-beckn-placement"] == ["OrderItem.beckn:orderItemAttributes"]
    for name in ("GridStressEvent", "FlexibilityAction", "SettlementMetrics"):
        assert defs[name]["x-beckn-placement"] == ["Order.beckn:orderAttributes"]
    assert "x-beckn-placement" not in defs["ShiftAction"]
    assert "x-beckn-placement" not in defs["OrderItemSettlement"]


# ---- events and topics ------------------------------------------------------------------------


def test_events_schema_pins_each_envelope_type_to_its_payload() -> None:
    defs = load(EVENTS_PATH)["$defs"]
    for name, cls in EVENT_TYPES.items():
        env = defs[f"{cls.__name__}Envelope"]
        assert env["properties"]["type"]["const"] == name
        assert env["properties"]["payload"] == {"$ref": f"#/$defs/{cls.__name__}"}


def test_events_schema_refuses_a_payload_under_another_type() -> None:
    doc = {"id": "x", "type": "compflex.site.registered", "time": "2025-11-17T00:00:00Z",
           "source": "scenario-replay", "payload": {"now": "2025-11-17T00:00:00Z",
                                                     "day_start": "2025-11-17T00:00:00Z",
                                                     "day_end": "2025-11-18T00:00:00Z"}}
    v = validator(EVENTS_PATH)
    assert not v.is_valid(doc)
    assert v.is_valid(doc | {"type": "sim.clock.advanced"})


def test_topic_catalogue_names_only_known_types() -> None:
    beckn = {f"beckn.{a}" for a in supported_actions()}
    exported = load(TOPICS_PATH)["topics"]
    assert [t["name"] for t in exported] == [t.name for t in CATALOGUE]
    for t in exported:
        for kind in t["types"]:
            assert kind in EVENT_TYPES or kind in beckn, f"{t['name']}: {kind}"
    carried = {k for t in exported for k in t["types"]}
    assert set(EVENT_TYPES) <= carried, sorted(set(EVENT_TYPES) - carried)

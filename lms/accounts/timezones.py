"""The time-zone choices: the tz database's zones by region (Africa, America, ... Pacific),
without its deprecated aliases (``US/Eastern``, ``Asia/Calcutta``, ``GB``: names kept only
for old programs), and the person's likely zones first: the one they have, then those of
the countries their browser's languages name (``en-GB`` -> Europe/London).

The zones are those ``zone.tab`` lists (one or more per country), plus UTC; a stored zone
outside them (an alias chosen before) stays valid and is offered among the likely ones."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib import resources

from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3 has it; its stubs do not yet

UTC = "UTC"
LIKELY = "Likely for you"
OTHER = "Other"
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@cache
def zones_by_country() -> dict[str, tuple[str, ...]]:
    """ISO 3166 country code -> its zones, as ``zone.tab`` (shipped by the tzdata package) lists them."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    found: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, zone, *_comment = line.split("\t")
            found[code].append(zone)
    return {code: tuple(zones) for code, zones in found.items()}


@cache
def canonical_zones() -> frozenset[str]:
    return frozenset({UTC, *(zone for zones in zones_by_country().values() for zone in zones)})


def label(zone: str) -> str:
    """``America/Argentina/Buenos_Aires`` -> ``Argentina/Buenos Aires`` (the region is the group)."""
    return zone.split("/", 1)[-1].replace("_", " ") if "/" in zone else zone


def likely_zones(current: str | None, countries: Iterable[str]) -> list[str]:
    """The person's zone, then the zones of ``countries`` (ISO codes, in the order given), then UTC."""
    table = zones_by_country()
    likely = [current] if current else []
    for code in countries:
        likely += table.get(code.upper(), ())
    likely.append(UTC)
    return list(dict.fromkeys(likely))


def countries_of(languages: Iterable[str]) -> list[str]:
    """The country codes in language tags, in order: ``["en-GB", "de-AT", "fr"]`` -> ``["GB", "AT"]``."""
    codes = []
    for tag in languages:
        parts = tag.replace("_", "-").split("-")
        codes += [p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()]
    return list(dict.fromkeys(codes))


@cache
def _region_choices() -> tuple[SelectChoice, ...]:
    """Every canonical zone as a choice, by region and, within one, by name (sorted once per process)."""
    by_region: dict[str, list[str]] = defaultdict(list)
    for zone in canonical_zones():
        region = zone.split("/", 1)[0] if "/" in zone else OTHER
        by_region[region if region in REGIONS else OTHER].append(zone)
    return tuple(SelectChoice(zone, label(zone), optgroup=region)
                 for region in (*REGIONS, OTHER) for zone in sorted(by_region[region], key=label))


def grouped_choices(likely: Iterable[str] = ()) -> list[SelectChoice]:
    """Choices for a select with option groups: "Likely for you" first (full names), then each
    region's zones by name (a likely zone is not repeated in its region)."""
    first = list(dict.fromkeys(likely))
    taken = set(first)
    return [SelectChoice(zone, zone, optgroup=LIKELY) for zone in first] + [
        choice for choice in _region_choices() if choice.value not in taken]

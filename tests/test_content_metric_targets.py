"""Every success-metric target says where it comes from and is stated the same everywhere:
a target is either a figure of the seeds' success metrics (seed 000, or seed 001's summary)
that the description names, or the description says plainly that it is a working figure and
not a program standard, and asks the learner to set their own. The KPI dashboard template
repeats each target, and must not drift from module.yml (a customer satisfaction target of
90 in one place and 95 in another is what this guards against)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


# The four frameworks of seed 000 take their five targets each from its success metrics; the
# two frameworks of seed 001 (international operations, operations implementation) have none.
SEED_001_ONLY = ("international-operations", "operations-implementation")


def _metrics(modules: tuple[str, ...] = ()) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in sorted((CONTENT / "modules").glob("*/module.yml")):
        if modules and path.parent.name not in modules:
            continue
        for item in yaml.safe_load(path.read_text())["metrics"]["items"]:
            found[item["id"]] = item
    return found


def _figure(target: str) -> float:
    match = re.search(r"-?\d+(\.\d+)?", str(target))
    assert match, target
    return float(match.group())


def test_the_kpi_dashboard_template_repeats_every_target_as_module_yml_sets_it() -> None:
    metrics = _metrics()
    with (CONTENT / "templates/kpi-dashboard.csv").open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(metrics)
    for key, item in metrics.items():
        assert float(rows[key]["target"]) == _figure(item["target"]), (key, rows[key]["target"], item["target"])


def test_each_target_names_its_seed_figure_or_says_it_is_not_a_program_standard() -> None:
    for key, item in _metrics(SEED_001_ONLY).items():
        words = " ".join(item["description"].split())
        from_seeds = re.search(r"\b[Ss]eeds?\b", words) is not None and "seeds set no figure" not in words \
            and "gives no figure" not in words
        own = "is not a program standard" in words and "set your own" in words.lower()
        assert from_seeds != own, (key, words)


def test_customer_satisfaction_is_90_wherever_a_target_is_stated() -> None:
    """Seed 000 sets 90%+ (seed 001's summary says 95%+, kept as the stretch goal); quality
    satisfaction (95%) is another metric."""
    assert _figure(_metrics()["cs-customer-satisfaction"]["target"]) == 90
    stated = re.compile(r"(satisfaction|CSAT)[^.|\n]{0,40}?(target|at least)\s*(is\s*)?(\d+)%", re.I)
    seen = 0
    for path in [*CONTENT.rglob("*.md"), *CONTENT.rglob("*.yml"), *(ROOT / "quizzes").rglob("*.yml")]:
        text = " ".join(path.read_text().split())
        for match in stated.finditer(text):
            before = text[max(0, match.start() - 40):match.start()].lower()
            if "quality" in before or "quality" in match.group(0).lower():
                continue
            assert match.group(4) == "90", (path, match.group(0))
            seen += 1
    assert seen >= 2  # the first lesson and the case study state it in prose

"""The year against the seeds' plan: content/seed-map.yml names the weekly units that teach
each aim of the learning path (seed 003) and each phase and step of the four frameworks'
implementation (seed 000); content/README.md shows the same map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
CONTENT = ROOT / "content"
SEEDS = ROOT.parent / "shared" / "seeds"  # beside the checkout on the program's machines


def units() -> dict[str, tuple[int, int]]:
    """Every lesson id -> (month, week), read from the files."""
    found: dict[str, tuple[int, int]] = {}
    for module in CONTENT.glob("modules/*/module.yml"):
        months = {p["id"]: p["month"] for p in yaml.safe_load(module.read_text())["phases"]}
        for lesson in module.parent.glob("lessons/*.md"):
            meta = yaml.safe_load(lesson.read_text().split("---\n")[1])
            assert meta.get("week"), f"{lesson} is not a weekly unit"
            found[meta["id"]] = (months[meta["phase"]], meta["week"])
    return found


UNITS = units()
MAP: dict[str, Any] = yaml.safe_load((CONTENT / "seed-map.yml").read_text())
LEVELS = {lv["id"]: lv["months"] for lv in yaml.safe_load((CONTENT / "program.yml").read_text())["levels"]}


def weeks(ids: list[str]) -> str:
    return ", ".join(f"M{UNITS[i][0]} W{UNITS[i][1]}" for i in ids)


def index(lesson: str) -> int:
    """The week of the year (1-48) a unit runs in."""
    month, week = UNITS[lesson]
    return (month - 1) * 4 + week


def test_the_year_has_48_weekly_units_four_a_month() -> None:
    assert sorted(UNITS.values()) == [(m, w) for m in range(1, 13) for w in range(1, 5)]


def test_every_aim_of_the_path_is_taught_in_its_levels_months_and_every_unit_serves_one() -> None:
    assert list(MAP["path"]) == list(LEVELS) == ["foundation", "intermediate", "advanced"]
    served: set[str] = set()
    for level, aims in MAP["path"].items():
        assert len(aims) == 4, level
        first, last = LEVELS[level]
        for aim in aims:
            assert aim["lessons"], aim["aim"]
            for lesson in aim["lessons"]:
                assert lesson in UNITS, f"unknown lesson {lesson}"
                assert first <= UNITS[lesson][0] <= last, (aim["aim"], lesson, UNITS[lesson])
            served.update(aim["lessons"])
    assert served == set(UNITS), sorted(set(UNITS) - served)


def test_first_kpi_dashboard_by_month_4() -> None:
    measurement = next(a for a in MAP["path"]["foundation"] if "measurement" in a["aim"])
    assert "qa-first-kpi-dashboard" in measurement["lessons"] and UNITS["qa-first-kpi-dashboard"][0] <= 4


@pytest.mark.parametrize("framework", MAP["frameworks"], ids=lambda f: f["module"])
def test_each_frameworks_phases_and_steps_run_in_consecutive_weeks(framework: dict[str, Any]) -> None:
    assert [p["phase"].split(":")[0] for p in framework["phases"]] == ["Phase 1", "Phase 2"]
    ordered = [lesson for phase in framework["phases"] for step in phase["steps"] for lesson in step["lessons"]]
    steps = [step["step"].split(":")[0] for phase in framework["phases"] for step in phase["steps"]]
    assert steps == [f"Step {n}" for n in range(1, len(steps) + 1)]
    positions = [index(lesson) for lesson in ordered]
    assert positions == list(range(positions[0], positions[0] + len(positions))), (framework["module"], positions)
    # phase 1 in weeks 1-2 of the framework's month, phase 2 from week 3
    first = framework["phases"][0]["steps"][0]["lessons"][0]
    assert UNITS[first][1] == 1
    assert all(UNITS[s["lessons"][0]][1] >= 3 for s in framework["phases"][1]["steps"])


def rendered() -> list[str]:
    lines = [f"| {level} | {aim['aim']} | {weeks(aim['lessons'])} |" for level, aims in MAP["path"].items() for aim in aims]
    for framework in MAP["frameworks"]:
        for phase in framework["phases"]:
            for step in phase["steps"]:
                again = f" (again in {weeks(step['revisited'])})" if step.get("revisited") else ""
                lines.append(f"| {framework['module']} | {phase['phase']} · {step['step']} | {weeks(step['lessons'])}{again} |")
    return lines


def test_the_readme_shows_the_same_map() -> None:
    readme = (CONTENT / "README.md").read_text()
    missing = [line for line in rendered() if line not in readme]
    assert not missing, missing


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents are not beside this checkout")
def test_every_seed_aim_phase_and_step_is_in_the_map() -> None:
    path_seed = next(SEEDS.glob("003_*.txt")).read_text()
    progression = path_seed.split("Learning Path Progression")[1].split("---")[0]
    aims = [line[2:].strip() for line in progression.splitlines() if line.startswith("- ")]
    assert len(aims) == 12
    assert aims == [a["aim"] for level in MAP["path"].values() for a in level]
    framework_seed = next(SEEDS.glob("000_*.txt")).read_text()
    headings = re.findall(r"^\*\*((?:Phase|Step) \d+: [^*]+)\*\*$", framework_seed, re.M)
    mapped = [text for f in MAP["frameworks"] for p in f["phases"] for text in (p["phase"], *(s["step"] for s in p["steps"]))]
    assert headings == mapped

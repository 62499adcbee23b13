"""A grader's key works only from what the case gives the learner: the Brightfold key
compares pound revenue with New Zealand dollar costs at NZ$2.20 to the pound, so the case
must state that rate (it did not, and no answer could reach the key's figures)."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTENT = Path(__file__).resolve().parent.parent / "content"


def test_the_brightfold_case_gives_every_figure_its_key_converts_with() -> None:
    case = " ".join((CONTENT / "modules/international-operations/assignments/01-case-study.md").read_text().split())
    rubric = yaml.safe_load((CONTENT / "rubrics/international-operations-case-rubric.yml").read_text())
    keys = " ".join(c.get("key", "") for c in rubric["criteria"])
    assert "NZ$2.20 to the pound" in keys
    assert "NZ$2.20 to the pound" in case
    for figure in ("£390", "22 practices", "NZ$7,800", "NZ$900", "NZ$300,000", "30%", "2,100"):
        assert figure in case and figure.lstrip("£") in keys, figure

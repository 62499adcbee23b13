"""A rubric's criteria as content files give them, validated once and carried typed: the
loader checks them, rubric versions store and load them (``RubricVersion.criteria``), and
grading, peer review, exports and evidence read their attributes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from lms.catalog.content import Code, Spec, Text

ShortId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)]


class LevelSpec(Spec):
    id: ShortId
    title: Text
    points: float = Field(ge=0, le=100)
    descriptor: Text


class CriterionSpec(Spec):
    id: ShortId
    title: Text
    description: str = ""
    objectives: list[Code] = Field(min_length=1)
    levels: list[LevelSpec] = Field(min_length=2)
    key: str = ""
    """The grader's note: what a grader checks the work against (the worked figures, the
    expected diagnosis, the flaws a critique should find). Shown only to those who grade
    (the instructor's grading page, an external expert's evaluation page), never to learners
    or peer reviewers, so the level descriptors can say what work at each level shows
    without giving the answer away. A version stored before it existed reads ""."""

    @model_validator(mode="after")
    def _levels(self) -> CriterionSpec:
        ids = [lv.id for lv in self.levels]
        if len(ids) != len(set(ids)):
            raise ValueError("level ids must be unique within the criterion")
        points = [lv.points for lv in self.levels]
        if points != sorted(points, reverse=True) or len(set(points)) != len(points):
            raise ValueError("levels go from best to weakest, with points strictly descending")
        return self

    @property
    def best_points(self) -> float:
        return max(lv.points for lv in self.levels)

    def fingerprint(self) -> dict[str, object]:
        """The criterion as its version's checksum reads it: an empty ``key`` is left out,
        so a rubric without grader's notes keeps the checksum it had before they existed
        (and no new version); writing or changing one makes a new version."""
        data = self.model_dump(mode="json")
        if not self.key:
            del data["key"]
        return data

    def level(self, level_id: str | None) -> LevelSpec | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

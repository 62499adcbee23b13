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

    def level(self, level_id: str | None) -> LevelSpec | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

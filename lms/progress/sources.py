"""Where evidence comes from: a registry of small classes, one per source, each with the
weight its judgements carry and the label learners and instructors see in a trail."""

from __future__ import annotations

from typing import ClassVar


class EvidenceSource:
    name: ClassVar[str]
    label: ClassVar[str]
    weight: ClassVar[float] = 1.0


class QuizSource(EvidenceSource):
    name, label = "quiz", "Quiz"


class RubricSource(EvidenceSource):
    name, label = "rubric", "Graded work"


class PeerSource(EvidenceSource):
    """A classmate's review counts half as much as an instructor's grade."""

    name, label, weight = "peer", "Peer review", 0.5


class RatingSource(EvidenceSource):
    name, label = "rating", "Instructor rating"


class StakeholderSource(EvidenceSource):
    name, label, weight = "stakeholder", "Stakeholder feedback", 0.75


class KpiSource(EvidenceSource):
    name, label, weight = "kpi", "KPI progress", 0.75


SOURCES: dict[str, type[EvidenceSource]] = {
    s.name: s for s in (QuizSource, RubricSource, PeerSource, RatingSource, StakeholderSource, KpiSource)
}

"""Where evidence comes from: a registry of small classes, one per source, each with the
weight its judgements carry and the label learners and instructors see in a trail."""

from __future__ import annotations

from typing import ClassVar

from lms.progress.models import EvidenceSourceName


class EvidenceSource:
    name: ClassVar[EvidenceSourceName]
    label: ClassVar[str]
    weight: ClassVar[float] = 1.0


class QuizSource(EvidenceSource):
    name, label = EvidenceSourceName.QUIZ, "Quiz"


class RubricSource(EvidenceSource):
    name, label = EvidenceSourceName.RUBRIC, "Graded work"


class PeerSource(EvidenceSource):
    """A classmate's review counts half as much as an instructor's grade."""

    name, label, weight = EvidenceSourceName.PEER, "Peer review", 0.5


class RatingSource(EvidenceSource):
    name, label = EvidenceSourceName.RATING, "Instructor rating"


class StakeholderSource(EvidenceSource):
    name, label, weight = EvidenceSourceName.STAKEHOLDER, "Stakeholder feedback", 0.75


class KpiSource(EvidenceSource):
    name, label, weight = EvidenceSourceName.KPI, "KPI progress", 0.75


SOURCES: dict[EvidenceSourceName, type[EvidenceSource]] = {
    s.name: s for s in (QuizSource, RubricSource, PeerSource, RatingSource, StakeholderSource, KpiSource)
}

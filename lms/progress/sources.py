"""Where evidence comes from: a registry of small classes, one per source, each with the
label learners and instructors see in a trail and its default weight. The weight a piece
of evidence actually carries depends on the kind of objective it is about and is set by
the program's rules (``content/mastery.yml``, ``evidence:``); these defaults fill in
whatever the rules leave out."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import ClassVar

from lms.progress.models import EvidenceSourceName


class EvidenceSource:
    name: ClassVar[EvidenceSourceName]
    label: ClassVar[str]
    weight: ClassVar[float] = 1.0
    # Whether its evidence counts toward ``mastery_min_weight`` (``methods.Point.vouched``):
    # staff or the course itself judged it, not the learner or someone the learner chose.
    # Unvouched evidence alone on an objective also never makes it proficient (``MasteryMethod.hold``).
    vouched: ClassVar[bool] = True
    # Whether the person who recorded it (``Evidence.recorded_by_id``) judged it, so that
    # their repeat judgements of one learner on one objective count as one
    # (``methods.Point.rater``).
    per_rater: ClassVar[bool] = False


class QuizSource(EvidenceSource):
    name, label = EvidenceSourceName.QUIZ, "Quiz"


class PracticeSource(EvidenceSource):
    """A practice quiz: recorded so the learner sees it, counted only if the rules say so."""

    name, label, weight = EvidenceSourceName.PRACTICE, "Practice quiz", 0.0


class RubricSource(EvidenceSource):
    name, label = EvidenceSourceName.RUBRIC, "Graded work"


class CaseStudySource(EvidenceSource):
    name, label = EvidenceSourceName.CASE_STUDY, "Case study"


class PeerSource(EvidenceSource):
    """A classmate's review counts half as much as an instructor's grade."""

    name, label, weight = EvidenceSourceName.PEER, "Peer review", 0.5


class RatingSource(EvidenceSource):
    name, label, per_rater = EvidenceSourceName.RATING, "Instructor rating", True


class StakeholderSource(EvidenceSource):
    """Feedback from a stakeholder the learner chose: it moves the level, but friendly
    ratings alone never make an objective mastered (not counted toward ``mastery_min_weight``)."""

    name, label, weight, vouched = EvidenceSourceName.STAKEHOLDER, "Stakeholder feedback", 0.75, False


class KpiSource(EvidenceSource):
    """The learner's own figures, typed in with no one checking them: they move the level,
    but three on target for three metrics of one objective, in one sitting, are not
    enough evidence to make it mastered (they do not count toward ``mastery_min_weight``).
    A figure is for one month, named in its reference (``kpi:<metric key>:<YYYY-MM>``); a
    month before the learner joined the program is on their record but counts for nothing
    (``lms.progress.services.joined_months``)."""

    name, label, weight, vouched = EvidenceSourceName.KPI, "KPI progress", 0.75, False

    @staticmethod
    def ref(metric_key: str, period: date) -> str:
        """The reference of a metric's figure for ``period``'s month."""
        return f"{EvidenceSourceName.KPI}:{metric_key}:{period:%Y-%m}"

    @staticmethod
    def period_of(source_ref: str) -> date | None:
        """The month (its first day) a KPI reference is for; None when it names none."""
        _, _, month = source_ref.rpartition(":")
        year, dash, number = month.partition("-")
        if not (dash and year.isdecimal() and number.isdecimal() and len(year) == 4 and 1 <= int(number) <= 12):
            return None
        return date(int(year), int(number), 1)


class ExpertSource(EvidenceSource):
    """An outside expert's rating of a submission against its rubric (they have no account).
    The learner chooses the expert, so, as with stakeholders, it moves the level but does not
    count toward ``mastery_min_weight``."""

    name, label, weight, vouched = EvidenceSourceName.EXPERT, "Expert evaluation", 0.75, False


class SimulationSource(EvidenceSource):
    """A branching simulation: the path a learner took through a scenario, scored against its objectives."""

    name, label, weight = EvidenceSourceName.SIMULATION, "Simulation", 0.75


SOURCES: dict[EvidenceSourceName, type[EvidenceSource]] = {
    s.name: s for s in (QuizSource, PracticeSource, RubricSource, CaseStudySource, PeerSource, RatingSource,
                        StakeholderSource, KpiSource, ExpertSource, SimulationSource)
}

# The sources whose evidence does not count toward ``mastery_min_weight`` (not vouched), to
# test each evidence row against cheaply (a cohort's trend reads hundreds of thousands).
UNVOUCHED: frozenset[EvidenceSourceName] = frozenset(name for name, source in SOURCES.items() if not source.vouched)

# The sources whose recorder is the rater (``EvidenceSource.per_rater``).
PER_RATER: frozenset[EvidenceSourceName] = frozenset(name for name, source in SOURCES.items() if source.per_rater)


def judge(source: EvidenceSourceName, email: str) -> str:
    """``methods.Point.judge`` (``Evidence.judge``) of a person without an account who rates a
    learner (a stakeholder, an outside expert), from their address: the same address is the
    same judge, whose latest rating of a learner on an objective is the one that counts. The
    address is not kept in the evidence, only a digest of it."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
    return f"{source}:{digest}"


def rater_of(source: str, recorded_by_id: int | None) -> int | None:
    """``methods.Point.rater`` for an evidence row of ``source`` recorded by ``recorded_by_id``."""
    return recorded_by_id if source in PER_RATER else None

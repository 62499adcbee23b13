"""The mastery policy section: content/mastery.yml names the program's mastery method, its
settings, the level thresholds and the evidence rules (which sources count toward each
kind of objective, and how much). A changed policy recomputes every mastery, with the
same numbers as recording the same evidence under the new policy would give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lms.catalog.content import CatalogSpec, Slug, Spec
from lms.catalog.models import ObjectiveKind, Program
from lms.content.services import Bundle, ContentSection, SyncReport, Tick, existing_by_key, retire_missing, upsert
from lms.content.source import Location, Problems, line_at, read_yaml_file, validate
from lms.coursework.content import CourseworkSpec
from lms.database import DbSession, utcnow
from lms.progress.evidence import JUDGED_AS_CASE_STUDY
from lms.progress.models import EvidenceSourceName, MasteryMethodName, MasteryPolicy
from lms.progress.services import EvidenceWeights, merged_weights, policy, rebuild, reweigh

Rules = dict[ObjectiveKind, dict[EvidenceSourceName, float]]
# The method settings content/mastery.yml may state (a misspelt one is refused, not ignored).
SETTINGS = ("latest_weight", "n", "mastery_level", "mastery_min_weight")
# A bound against a slip of the keyboard: ten full judgements on one objective.
MAX_MIN_WEIGHT = 10.0


class PolicyFile(Spec):
    program: Slug
    method: MasteryMethodName
    settings: dict[str, float] = {}
    thresholds: dict[str, float] = Field(min_length=2)
    at_risk_below: float = Field(default=2.5, ge=0, le=4)
    # Per objective kind, the weight of each evidence source (0 to 1; 0: recorded, not counted).
    evidence: Rules = {}

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, evidence: Rules) -> Rules:
        for kind, weights in evidence.items():
            for source, weight in weights.items():
                if not 0 <= weight <= 1:
                    raise ValueError(f"the weight of {source.value} evidence on {kind.value} objectives is between 0 and 1")
        return evidence

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        bounds = list(thresholds.values())
        if bounds[0] != 0 or bounds != sorted(bounds) or len(set(bounds)) != len(bounds) or bounds[-1] > 4:
            raise ValueError("thresholds start at 0 and rise strictly, up to 4 at most")
        return thresholds

    @field_validator("settings")
    @classmethod
    def _settings(cls, settings: dict[str, float]) -> dict[str, float]:
        share = settings.get("latest_weight")
        if share is not None and not 0 < share <= 1:
            raise ValueError("latest_weight is a share between 0 (exclusive) and 1")
        if settings.get("n", 1) < 1:
            raise ValueError("n is at least 1")
        least = settings.get("mastery_min_weight")
        if least is not None and not 0 <= least <= MAX_MIN_WEIGHT:
            raise ValueError(f"mastery_min_weight is the weight of evidence needed before an objective counts as mastered, "
                             f"from 0 (no minimum) to {MAX_MIN_WEIGHT:g}")
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(SETTINGS)}")
        return settings


@dataclass
class PolicySource:
    spec: PolicyFile
    path: Path


def uncounted_claims(catalog: CatalogSpec, coursework: CourseworkSpec, weights: EvidenceWeights,
                     problems: Problems) -> None:
    """A case study or a critique judges someone else's business or a provided artifact, so
    its grade is case-study evidence. Naming an objective on which the policy weighs that
    evidence at 0 (by default every application objective: results in the learner's own
    business) promises evidence that never moves a mastery; each such code is refused at its
    line, in the assignment's objectives and in its rubric's criteria."""
    kinds = {o.code: o.kind for o in catalog.objectives}
    rubrics = {r.spec.id: r for r in coursework.rubrics}

    def problem(code: str, kind: ObjectiveKind, work: str) -> str:
        article = "an" if kind.value[0] in "aeiou" else "a"
        return (f"{code} is {article} {kind.value} objective, and a {work} is judged as case-study evidence, which "
                f"content/mastery.yml weighs at 0 on {kind.value} objectives: it would never count; name the "
                f"knowledge or skill objective the work shows")

    def uncounted(code: str) -> ObjectiveKind | None:
        kind = kinds.get(code)
        if kind is None or weights[kind].get(EvidenceSourceName.CASE_STUDY, 0) > 0:
            return None
        return kind

    for assignment in coursework.assignments:
        if assignment.meta.kind not in JUDGED_AS_CASE_STUDY:
            continue
        work = assignment.meta.kind.value.replace("_", " ")
        for i, code in enumerate(assignment.meta.objectives):
            if (kind := uncounted(code)) is not None:
                problems.add(Location(assignment.path, assignment.objective_line(i)), problem(code, kind, work))
        rubric = rubrics.get(assignment.meta.rubric)
        if rubric is None:
            continue
        for i, criterion in enumerate(rubric.spec.criteria):
            for j, code in enumerate(criterion.objectives):
                if (kind := uncounted(code)) is not None:
                    problems.add(Location(rubric.path, rubric.objective_line(i, j)),
                                 f"criterion {criterion.id!r} of {assignment.meta.id!r}: {problem(code, kind, work)}")


class MasteryPolicySection(ContentSection):
    name = "mastery"
    order = 40

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        catalog: CatalogSpec = bundle.specs["catalog"]
        path = bundle.source.content_dir / "mastery.yml"
        found: PolicySource | None = None
        if path.is_file():
            data = read_yaml_file(path, problems)
            spec = validate(PolicyFile, data, path, problems) if data is not None else None
            if spec is not None:
                if spec.program != catalog.program.id:
                    problems.add(Location(path, line_at(data, ["program"])), f"unknown program {spec.program!r}")
                found = PolicySource(spec, path)
        coursework: CourseworkSpec | None = bundle.specs.get("coursework")
        if coursework is not None:
            stated = {kind.value: {source.value: weight for source, weight in weights.items()}
                      for kind, weights in (found.spec.evidence if found else {}).items()}
            uncounted_claims(catalog, coursework, merged_weights(stated), problems)
        bundle.specs[self.name] = found

    def summary(self, bundle: Bundle) -> dict[str, int]:
        return {"mastery policies": 1 if bundle.specs[self.name] else 0}

    def size(self, bundle: Bundle) -> int:
        return sum(self.summary(bundle).values())

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        source: PolicySource | None = bundle.specs[self.name]
        policies = existing_by_key(session, MasteryPolicy)
        seen: list[str] = []
        if source is not None:
            spec = source.spec
            programs = existing_by_key(session, Program)
            before = _fingerprint(policies.get(spec.program))
            row = upsert(session, policies, MasteryPolicy, spec.program, {
                "program": programs[spec.program], "method": spec.method, "settings": dict(spec.settings),
                "thresholds": dict(spec.thresholds), "at_risk_below": spec.at_risk_below,
                "evidence_weights": {kind.value: {source.value: weight for source, weight in weights.items()}
                                     for kind, weights in spec.evidence.items()},
            }, report, "mastery policies")
            seen.append(spec.program)
            if before != _fingerprint(row):
                session.flush()
                reweigh(session, policy(session))  # the rules changed: every piece of evidence weighs what they say
                rebuild(session, utcnow())        # and every mastery follows them (its level, when below the bar)
            tick(1)
        retire_missing(policies, seen, report, "mastery policies")


def _fingerprint(policy: MasteryPolicy | None) -> Any:
    # The thresholds too: a level is held under the top one on too little evidence.
    return None if policy is None else (policy.method, dict(policy.settings), policy.retired_at is None,
                                        dict(policy.evidence_weights or {}), policy.at_risk_below,
                                        dict(policy.thresholds))

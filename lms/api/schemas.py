"""The API's request and response schemas (pydantic). The OpenAPI document is generated
from these by spectree (lms/api/spec.py): change a field here and the document follows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lms.api.models import Scope


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests


class ListQuery(Schema):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    cursor: str | None = Field(None, max_length=200, description="The `next_cursor` of the previous page (or follow the `Link` header).")


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one is read as UTC). ``ValueError`` for a time that has no
    UTC equivalent a date can hold: 0001-01-01T00:00+01:00 is still year 0 in UTC, and
    9999-12-31T23:00-01:00 year 10000. The one rule for every time the API is given (a
    parameter, a cursor), so no such time reaches a comparison and fails there with a 500."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC; use a time between years 1 and 9999 in UTC") from None


class SyncQuery(ListQuery):
    updated_since: datetime | None = Field(
        None, description="Only items changed at or after this time (ISO 8601; UTC when no offset is given), for incremental sync.")

    @field_validator("updated_since")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        return None if moment is None else in_utc(moment)


class CohortsQuery(ListQuery):
    organization_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Only this organization's cohorts.")


class InvitationIn(Schema):
    email: str = Field(min_length=3, max_length=254, description="The learner's email address; an invitation is sent there.")
    name: str = Field("", max_length=200, description="The learner's name, if known.")


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="The reason, for a person.")
    instance: str | None = None
    errors: list[dict[str, object]] | None = Field(None, description="Each invalid field (422 only).")


# --------------------------------------------------------------------------- resources


class OrganizationOut(Schema):
    id: int
    name: str
    created_at: datetime


class CohortOut(Schema):
    id: int
    organization_id: int
    name: str
    start_date: date
    timezone: str
    archived: bool
    created_at: datetime


class LearnerOut(Schema):
    id: int
    name: str
    email: str
    enrolled_at: datetime
    pace: str


class EnrolmentOut(Schema):
    id: int
    learner_id: int
    name: str
    email: str
    started_at: datetime
    ended_at: datetime | None
    ended_reason: str
    pace: str


class InvitationOut(Schema):
    id: int
    cohort_id: int
    email: str
    name: str
    created_at: datetime
    expires_at: datetime


class LevelOut(Schema):
    id: int
    key: str
    title: str
    position: int
    first_month: int
    last_month: int
    summary: str


class ModuleOut(Schema):
    id: int
    key: str
    title: str
    position: int
    summary: str


class ObjectiveOut(Schema):
    id: int
    key: str
    kind: str
    title: str
    statement: str
    outcomes: list[str]
    position: int


class MetricOut(Schema):
    id: int
    key: str
    module_key: str
    name: str
    unit: str
    direction: str = Field(description="at_least, over, at_most or under: over and under are strict, "
                                       "a figure equal to the target does not meet it")
    target: float
    min_value: float
    max_value: float


class MasteryOut(Schema):
    id: int
    learner_id: int
    objective_key: str
    level: float | None = Field(description="0-4; null until there is evidence.")
    held: bool = Field(description="True when the level is held just under a level for want of evidence: the evidence "
                                   "reaches mastered but weighs less than the program's minimum (mastery_min_weight, "
                                   "two full judgements by default), or reaches proficient with none of it staff-checked "
                                   "(only stakeholder or expert ratings, or the learner's own KPI figures), so the level "
                                   "reads just under it. False otherwise.")
    evidence_count: int
    updated_at: datetime


class EvidenceOut(Schema):
    id: int
    learner_id: int
    objective_key: str
    source: str
    level: float
    weight: float
    note: str
    recorded_at: datetime = Field(description="When the result it says was made (a quiz attempt's submission); orders mastery.")
    written_at: datetime = Field(description="When this evidence was written (a written answer may be graded days after its attempt): "
                                             "what updated_since reads, and the list's order.")


class RemovalOut(Schema):
    id: int = Field(description="The id the list gave out (a grade's, an evidence row's, a learner's): drop every item with it.")
    kind: str = Field(description="`grade`, `submission`, `evidence`, `learner`, `attempt` or `mastery`: the list it left.")
    learner_id: int
    cohort_id: int | None = Field(description="The cohort whose list it left; null on the /me removed lists.")
    removed_at: datetime


class AttemptOut(Schema):
    id: int
    learner_id: int
    quiz_key: str
    number: int
    started_at: datetime
    submitted_at: datetime
    score: float | None
    max_score: float
    pending_manual: bool
    updated_at: datetime = Field(description="When it last changed: its submission, or its score since (a written answer "
                                             "graded by hand, a rescore). `updated_since` reads this.")


class TeamShareOut(Schema):
    """A team's grade as one member's: the team's score and how far theirs was moved from it."""

    name: str = Field(description="The team whose work was graded.")
    score: float | None = Field(description="The team's score, before this member's adjustment.")
    adjustment: float | None = Field(description="Points this member's score was moved from the team's; null when not adjusted.")
    note: str = Field(description="The staff's reason for the adjustment (the learner reads it); empty when not adjusted.")


class GradeOut(Schema):
    id: int
    submission_id: int
    learner_id: int = Field(description="Whose grade this is. A team's grade is listed once per member (the same `id`).")
    assignment_key: str
    score: float | None = Field(description="This learner's score: for a team member, the team's moved by their adjustment.")
    max_score: float
    feedback: str
    released_at: datetime | None
    updated_at: datetime = Field(description="When it last changed: the grade, or this member's adjustment.")
    team: TeamShareOut | None = Field(description="For a team's work: the team and this member's adjustment; null otherwise.")


class SubmissionOut(Schema):
    id: int
    learner_id: int = Field(description="Whose work this is. A team's one submission is listed once per member (the same `id`).")
    assignment_key: str
    status: str
    submitted_at: datetime | None
    late: bool = Field(description="The latest version was handed in after the learner's due date as it stands now "
                                   "(an extension granted later excuses it; one taken away makes it late again).")
    due_on: date | None = Field(description="The deadline the latest version is judged by (`late`): the learner's due date "
                                            "with the extension that applies (a team's work: the latest among its members'), "
                                            "or a revision's window; the day the work page shows. Null for work without dates.")
    updated_at: datetime = Field(description="When it or its grade for this learner (a team member's adjustment) last changed.")
    team: str | None = Field(description="The name of the team whose work this is; null for one learner's own work.")
    grade: GradeOut | None = Field(description="The grade once released; null before.")


class KpiOut(Schema):
    id: int
    learner_id: int
    metric_key: str
    period: date
    value: float
    recorded_at: datetime


class CertificateOut(Schema):
    id: int
    learner_id: int
    level_key: str
    code: str
    issued_at: datetime
    verify_url: str
    revoked: bool = Field(description="Whether the issuer revoked the certificate: it no longer certifies the level "
                                      "(its verification page, Open Badges assertion and credential say so).")
    revoked_at: datetime | None = Field(description="When it was revoked; null while it stands.")
    revocation_reason: str | None = Field(description="Why it was revoked, as its verification page shows; null while it stands.")
    updated_at: datetime = Field(description="When it last changed: its revocation, else its issue. `updated_since` "
                                             "reads this, so an incremental sync learns of a revocation.")


class MyEnrolmentOut(Schema):
    id: int
    cohort_id: int
    cohort_name: str
    organization_id: int
    started_at: datetime
    ended_at: datetime | None
    ended_reason: str
    pace: str


class MeOut(Schema):
    """The token's owner and where they belong."""

    id: int
    name: str
    email: str
    timezone: str
    site_admin: bool
    created_at: datetime
    enrolments: list[MyEnrolmentOut] = Field(description="As a learner, ended enrolments included, oldest first.")
    instructs: list[CohortOut] = Field(description="Cohorts they teach.")
    admin_of: list[OrganizationOut] = Field(description="Organizations they administer.")


class TokenInfo(Schema):
    name: str
    scopes: list[Scope]
    organization_id: int | None
    expires_at: datetime | None
    owner_id: int


# --------------------------------------------------------------------------- pages


class Paged(Schema):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class OrganizationPage(Paged):
    data: list[OrganizationOut]


class CohortPage(Paged):
    data: list[CohortOut]


class LearnerPage(Paged):
    data: list[LearnerOut]


class EnrolmentPage(Paged):
    data: list[EnrolmentOut]


class LevelPage(Paged):
    data: list[LevelOut]


class ModulePage(Paged):
    data: list[ModuleOut]


class ObjectivePage(Paged):
    data: list[ObjectiveOut]


class MetricPage(Paged):
    data: list[MetricOut]


class MasteryPage(Paged):
    data: list[MasteryOut]


class EvidencePage(Paged):
    data: list[EvidenceOut]


class RemovalPage(Paged):
    data: list[RemovalOut]


class AttemptPage(Paged):
    data: list[AttemptOut]


class SubmissionPage(Paged):
    data: list[SubmissionOut]


class GradePage(Paged):
    data: list[GradeOut]


class KpiPage(Paged):
    data: list[KpiOut]


class CertificatePage(Paged):
    data: list[CertificateOut]

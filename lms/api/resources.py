"""The REST API v1: read-only resources for an organization's systems and invitations by
email. Each view runs after the access policy (lms/policy.py, lms/api/access.py) and reads
with a fixed number of statements per page (lms/api/paging.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from spectree import Response as Resp
from sqlalchemy import ColumnElement, Select, case, func, null, or_, select, true
from werkzeug.exceptions import HTTPException

from lms.accounts.models import User
from lms.accounts.services import AccountError, normalise_email, person_name
from lms.api import schemas as s
from lms.api.access import current_token
from lms.api.models import ApiRemoval, RemovedKind
from lms.api.paging import Page, decode, fetch
from lms.api.problems import ApiProblem, handle_http_error
from lms.api.removals import DEFAULT_KEPT_DAYS
from lms.api.spec import api_spec, document
from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Level, Metric, Module, Objective
from lms.certificates.models import Certificate, CredentialRevocation
from lms.certificates.services import held_in_cohort
from lms.cohorts import invitations
from lms.cohorts.models import Cohort, Enrolment, Organization, cohort_instructors, organization_admins
from lms.cohorts.roles import roles_of
from lms.cohorts.services import CohortError
from lms.cohorts.views import invitation_link
from lms.competency.services import grid_query
from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.coursework.sharing import Group, groups_of, sharers
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade, GradeStatus
from lms.kpi.models import KpiEntry
from lms.progress.models import Evidence, Mastery

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1", template_folder="templates")
bp.register_error_handler(HTTPException, handle_http_error)


def _query(kind: str = "query") -> Any:
    return getattr(getattr(request, "context"), kind)  # noqa: B009 - spectree sets it at run time


def _owner() -> User:
    token = current_token()
    user = db.session.get(User, token.user_id) if token else None
    if user is None:
        raise ApiProblem(401, "Send an API token.")
    return user


def _answer(page: Page, model: Any, items: list[Any]) -> tuple[Any, int, dict[str, str]]:
    return model(data=items, next_cursor=page.next_cursor), 200, page.headers()


def _learners(cohort_id: int) -> Any:
    """The cohort's current learners (a subquery)."""
    return select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id, Enrolment.active)


# --------------------------------------------------------------------------- the document


@bp.get("/openapi.json")
def openapi() -> Any:
    return current_app.json.response(document())


@bp.get("/docs")
def docs() -> str:
    return render_template("api/docs.html", doc=document())


# --------------------------------------------------------------------------- people


def _visible_organizations(user: User) -> Select[Any]:
    token = current_token()
    stmt = select(Organization)
    if token is not None and token.organization_id is not None:
        return stmt.where(Organization.id == token.organization_id)
    if user.is_admin:
        return stmt
    roles = roles_of(db.session, user)
    return stmt.where(Organization.id.in_(list(roles.admin_of | {c.organization_id for c in _taught(user)})))


def _taught(user: User) -> list[Cohort]:
    roles = roles_of(db.session, user)
    return list(db.session.scalars(select(Cohort).where(Cohort.id.in_(list(roles.instructs))))) if roles.instructs else []


@bp.get("/organizations")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.OrganizationPage), tags=["people"], operation_id="listOrganizations")
def organizations() -> Any:
    """Organizations the token may see"""
    page = fetch(db.session, _visible_organizations(_owner()), _query(), Organization.id)
    return _answer(page, s.OrganizationPage, [s.OrganizationOut(id=o.id, name=o.name, created_at=o.created_at)
                                              for (o,) in page.rows])


def _cohort_out(c: Cohort) -> s.CohortOut:
    return s.CohortOut(id=c.id, organization_id=c.organization_id, name=c.name, start_date=c.start_date,
                       timezone=c.timezone, archived=c.archived, created_at=c.created_at)


@bp.get("/cohorts")
@api_spec.validate(query=s.CohortsQuery, resp=Resp(HTTP_200=s.CohortPage), tags=["people"], operation_id="listCohorts")
def cohorts() -> Any:
    """Cohorts the token's owner works on"""
    user, query = _owner(), _query()
    token = current_token()
    stmt = select(Cohort)
    if not user.is_admin:
        roles = roles_of(db.session, user)
        stmt = stmt.where(Cohort.organization_id.in_(list(roles.admin_of)) | Cohort.id.in_(list(roles.instructs)))
    if token is not None and token.organization_id is not None:
        stmt = stmt.where(Cohort.organization_id == token.organization_id)
    if query.organization_id is not None:
        stmt = stmt.where(Cohort.organization_id == query.organization_id)
    page = fetch(db.session, stmt, query, Cohort.id)
    return _answer(page, s.CohortPage, [_cohort_out(c) for (c,) in page.rows])


@bp.get("/cohorts/<int:cohort_id>")
@api_spec.validate(resp=Resp(HTTP_200=s.CohortOut), tags=["people"], operation_id="getCohort")
def cohort(cohort_id: int) -> Any:
    """One cohort"""
    found = db.session.get(Cohort, cohort_id)
    if found is None:
        raise ApiProblem(404, "No such cohort.")
    return _cohort_out(found)


@bp.get("/cohorts/<int:cohort_id>/learners")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.LearnerPage), tags=["people"], operation_id="listLearners")
def learners(cohort_id: int) -> Any:
    """The cohort's current learners"""
    stmt = (select(Enrolment, User).join(User, User.id == Enrolment.user_id)
            .where(Enrolment.cohort_id == cohort_id, Enrolment.active))
    page = fetch(db.session, stmt, _query(), Enrolment.id)
    return _answer(page, s.LearnerPage, [s.LearnerOut(id=u.id, name=u.name, email=u.email, enrolled_at=e.started_at, pace=e.pace.value)
                                         for e, u in page.rows])


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>")
@api_spec.validate(resp=Resp(HTTP_200=s.LearnerOut), tags=["people"], operation_id="getLearner")
def learner(cohort_id: int, user_id: int) -> Any:
    """One of the cohort's current learners"""
    found = db.session.execute(select(Enrolment, User).join(User, User.id == Enrolment.user_id)
                               .where(Enrolment.cohort_id == cohort_id, Enrolment.user_id == user_id, Enrolment.active)
                               .order_by(Enrolment.id.desc()).limit(1)).first()
    if found is None:
        raise ApiProblem(404, "No such learner in this cohort (or they have left it: see its enrolments).")
    e, u = found
    return s.LearnerOut(id=u.id, name=u.name, email=u.email, enrolled_at=e.started_at, pace=e.pace.value)


@bp.get("/cohorts/<int:cohort_id>/enrolments")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.EnrolmentPage), tags=["people"], operation_id="listEnrolments")
def enrolments(cohort_id: int) -> Any:
    """Every enrolment of the cohort, ended ones included"""
    stmt = select(Enrolment, User).join(User, User.id == Enrolment.user_id).where(Enrolment.cohort_id == cohort_id)
    page = fetch(db.session, stmt, _query(), Enrolment.id)
    return _answer(page, s.EnrolmentPage, [
        s.EnrolmentOut(id=e.id, learner_id=u.id, name=u.name, email=u.email, started_at=e.started_at, ended_at=e.ended_at,
                       ended_reason=e.ended_reason, pace=e.pace.value) for e, u in page.rows])


@bp.post("/cohorts/<int:cohort_id>/enrolments")
@api_spec.validate(json=s.InvitationIn, resp=Resp(HTTP_201=s.InvitationOut), tags=["people"], operation_id="inviteLearner")
def invite(cohort_id: int) -> Any:
    """Invite a learner by email (as the cohort page does): they join when they accept"""
    body = _query("json")
    if body is None:
        raise ApiProblem(422, "Send a JSON body: {\"email\": ..., \"name\": ...}.")
    found = db.session.get(Cohort, cohort_id)
    if found is None:
        raise ApiProblem(404, "No such cohort.")
    fields = _invitation_problems(body)
    if fields:
        raise ApiProblem(422, "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in fields), errors=fields)
    try:
        made = invitations.invite_learner(db.session, found, body.email, body.name, _owner(), invitation_link, utcnow())
    except CohortError as exc:
        db.session.rollback()
        # the address's own problem (already a learner, invited elsewhere...) is the email field's; an archived cohort is no field's
        raise ApiProblem(422, str(exc), errors=None if found.archived else [_field("email", str(exc))]) from exc
    out = s.InvitationOut(id=made.id, cohort_id=made.cohort_id, email=made.email, name=made.name,
                          created_at=made.created_at, expires_at=made.expires_at)
    return out, 201


def _field(name: str, message: str) -> dict[str, Any]:
    return {"loc": [name], "msg": message, "type": "value_error"}


def _invitation_problems(body: s.InvitationIn) -> list[dict[str, Any]]:
    """The body's fields as the invitation reads them (an address, a person's name), each
    problem under its field's name, as the schema's own problems are (``errors`` of a 422)."""
    found = []
    for name, read, value in (("email", normalise_email, body.email), ("name", person_name, body.name)):
        if name == "name" and not value.strip():
            continue  # optional: the person types it when they accept
        try:
            read(value)
        except AccountError as exc:
            found.append(_field(name, str(exc)))
    return found


# --------------------------------------------------------------------------- removals (tombstones)


def _kept_days() -> int:
    """How long the API holds removals (``API_REMOVALS_KEPT_DAYS``)."""
    return int(current_app.config.get("API_REMOVALS_KEPT_DAYS") or DEFAULT_KEPT_DAYS)


def _removals(where: Any) -> Any:
    """What left one list, paged by when (``updated_since``: removed since). A cursor or
    ``updated_since`` from before the removals kept is 410 Gone: some of what left the list
    since was pruned, so only a full sync of the list is right."""
    query = _query()
    moments = [query.updated_since] if query.updated_since is not None else []
    if query.cursor:
        moments.append(decode(query.cursor, timed=True)[0])
    days = _kept_days()
    kept = utcnow() - timedelta(days=days)
    if any(moment < kept for moment in moments):
        raise ApiProblem(410, f"Removals are kept {days} days; this cursor or updated_since is older, "
                              "so some were pruned. Sync the whole list again, then ask for its removals from then.")
    # only the days kept, pruned yet or not: a read from the start never hands out a cursor that is already gone
    stmt = select(ApiRemoval).where(*where, ApiRemoval.removed_at >= kept)
    page = fetch(db.session, stmt, query, ApiRemoval.id, ApiRemoval.removed_at)
    return _answer(page, s.RemovalPage, [s.RemovalOut(id=r.object_id, kind=r.kind.value, learner_id=r.learner_id,
                                                      cohort_id=r.cohort_id, removed_at=r.removed_at)
                                         for (r,) in page.rows])


def _removed(cohort_id: int, kind: RemovedKind) -> Any:
    """What left the cohort's ``kind`` list."""
    return _removals([ApiRemoval.cohort_id == cohort_id, ApiRemoval.kind == kind])


def _my_removed(kind: RemovedKind) -> Any:
    """What left the token owner's own ``kind`` list (rows with no cohort)."""
    return _removals([ApiRemoval.learner_id == _owner().id, ApiRemoval.cohort_id.is_(None), ApiRemoval.kind == kind])


@bp.get("/cohorts/<int:cohort_id>/learners/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["people"], operation_id="removedLearners")
def removed_learners(cohort_id: int) -> Any:
    """Learners who left the learners list (enrolment ended, moved to another cohort); with
    updated_since, those who left since"""
    return _removed(cohort_id, RemovedKind.LEARNER)


@bp.get("/cohorts/<int:cohort_id>/evidence/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["competency"], operation_id="removedEvidence")
def removed_evidence(cohort_id: int) -> Any:
    """Evidence rows deleted or replaced (a regrade replaces its work's evidence) while their
    learner was in the cohort; with updated_since, those removed since"""
    return _removed(cohort_id, RemovedKind.EVIDENCE)


@bp.get("/cohorts/<int:cohort_id>/mastery/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["competency"], operation_id="removedMastery")
def removed_mastery(cohort_id: int) -> Any:
    """Mastery rows deleted (no evidence left that counts, or every row rebuilt) while their
    learner was in the cohort; with updated_since, those removed since"""
    return _removed(cohort_id, RemovedKind.MASTERY)


@bp.get("/cohorts/<int:cohort_id>/quiz-attempts/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["grades"], operation_id="removedQuizAttempts")
def removed_quiz_attempts(cohort_id: int) -> Any:
    """Quiz attempts that left the cohort with their learner (moved to another cohort while
    the attempt was still running or waiting for a written answer's grade); with
    updated_since, those that left since"""
    return _removed(cohort_id, RemovedKind.ATTEMPT)


@bp.get("/cohorts/<int:cohort_id>/submissions/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["grades"], operation_id="removedSubmissions")
def removed_submissions(cohort_id: int) -> Any:
    """Handed-in work that left the cohort (carried to another cohort with its learner); with
    updated_since, that which left since"""
    return _removed(cohort_id, RemovedKind.SUBMISSION)


@bp.get("/cohorts/<int:cohort_id>/grades/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["grades"], operation_id="removedGrades")
def removed_grades(cohort_id: int) -> Any:
    """Released grades taken back (saved as a draft again, or the work returned for
    revision), or carried to another cohort with their learner's work; with updated_since,
    those removed since"""
    return _removed(cohort_id, RemovedKind.GRADE)


# --------------------------------------------------------------------------- the curriculum


@bp.get("/curriculum/levels")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.LevelPage), tags=["curriculum"], operation_id="listLevels")
def levels() -> Any:
    """The program's levels"""
    page = fetch(db.session, select(Level).where(Level.retired_at.is_(None)), _query(), Level.id)
    return _answer(page, s.LevelPage, [s.LevelOut(id=x.id, key=x.key, title=x.title, position=x.position, first_month=x.first_month,
                                                  last_month=x.last_month, summary=x.summary) for (x,) in page.rows])


@bp.get("/curriculum/modules")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.ModulePage), tags=["curriculum"], operation_id="listModules")
def modules() -> Any:
    """The program's modules"""
    page = fetch(db.session, select(Module).where(Module.retired_at.is_(None)), _query(), Module.id)
    return _answer(page, s.ModulePage, [s.ModuleOut(id=x.id, key=x.key, title=x.title, position=x.position, summary=x.summary)
                                        for (x,) in page.rows])


@bp.get("/curriculum/objectives")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.ObjectivePage), tags=["curriculum"], operation_id="listObjectives")
def objectives() -> Any:
    """The objectives learners are assessed against"""
    page = fetch(db.session, select(Objective).where(Objective.retired_at.is_(None)), _query(), Objective.id)
    return _answer(page, s.ObjectivePage, [
        s.ObjectiveOut(id=x.id, key=x.key, kind=x.kind.value, title=x.title, statement=x.statement, outcomes=list(x.outcomes),
                       position=x.position) for (x,) in page.rows])


@bp.get("/curriculum/metrics")
@api_spec.validate(query=s.ListQuery, resp=Resp(HTTP_200=s.MetricPage), tags=["curriculum"], operation_id="listMetrics")
def metrics() -> Any:
    """The business metrics learners track (KPI figures refer to them)"""
    stmt = select(Metric, Module.key).join(Module, Module.id == Metric.module_id).where(Metric.retired_at.is_(None))
    page = fetch(db.session, stmt, _query(), Metric.id)
    return _answer(page, s.MetricPage, [
        s.MetricOut(id=m.id, key=m.key, module_key=k, name=m.name, unit=m.unit.value, direction=m.comparison.value,
                    target=m.target, min_value=m.min_value, max_value=m.max_value) for m, k in page.rows])


# --------------------------------------------------------------------------- competency


def _mastery(cohort_id: int, user_id: int | None) -> Any:
    stmt = (grid_query([cohort_id]).add_columns(Mastery.id, Mastery.updated_at, Objective.key)
            .join(Objective, Objective.id == Mastery.objective_id))
    if user_id is not None:
        stmt = stmt.where(Mastery.user_id == user_id)
    page = fetch(db.session, stmt, _query(), Mastery.id, Mastery.updated_at, key_of=lambda r: (r[6], r[5]))
    items = [s.MasteryOut(id=mid, learner_id=u, objective_key=key, level=level, held=held, evidence_count=count,
                          updated_at=at) for u, _o, level, count, held, mid, at, key in page.rows]
    return _answer(page, s.MasteryPage, items)


@bp.get("/cohorts/<int:cohort_id>/mastery")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.MasteryPage), tags=["competency"], operation_id="cohortMastery")
def cohort_mastery(cohort_id: int) -> Any:
    """Mastery of every current learner per objective: the heat map's data"""
    return _mastery(cohort_id, None)


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>/mastery")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.MasteryPage), tags=["competency"], operation_id="learnerMastery")
def learner_mastery(cohort_id: int, user_id: int) -> Any:
    """One learner's mastery per objective"""
    return _mastery(cohort_id, user_id)


@bp.get("/cohorts/<int:cohort_id>/evidence")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.EvidencePage), tags=["competency"], operation_id="listEvidence")
def evidence(cohort_id: int) -> Any:
    """The evidence behind mastery, newest last"""
    stmt = (select(Evidence, Objective.key).join(Objective, Objective.id == Evidence.objective_id)
            .where(Evidence.user_id.in_(_learners(cohort_id))))
    page = fetch(db.session, stmt, _query(), Evidence.id, Evidence.written_at)
    return _answer(page, s.EvidencePage, [
        s.EvidenceOut(id=e.id, learner_id=e.user_id, objective_key=k, source=e.source.value, level=e.level, weight=e.weight,
                      note=e.note, recorded_at=e.recorded_at, written_at=e.written_at) for e, k in page.rows])


@bp.get("/cohorts/<int:cohort_id>/kpi")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.KpiPage), tags=["competency"], operation_id="listKpiFigures")
def kpi(cohort_id: int) -> Any:
    """KPI figures the learners recorded"""
    stmt = (select(KpiEntry, Metric.key).join(Metric, Metric.id == KpiEntry.metric_id)
            .where(KpiEntry.user_id.in_(_learners(cohort_id))))
    page = fetch(db.session, stmt, _query(), KpiEntry.id, KpiEntry.recorded_at)
    return _answer(page, s.KpiPage, [s.KpiOut(id=e.id, learner_id=e.user_id, metric_key=k, period=e.period, value=e.value,
                                              recorded_at=e.recorded_at) for e, k in page.rows])


def _site_url(endpoint: str, **values: Any) -> str:
    """An absolute address under the configured ``BASE_URL`` (never the request's Host
    header when one is configured); the request's own root otherwise."""
    base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
    return base + url_for(endpoint, **values) if base else url_for(endpoint, _external=True, **values)


def _certificates(where: Any) -> Any:
    """Certificates with their revocation, paged by when each last changed (revoked, else
    issued), so ``updated_since`` gives the ones revoked since as well as those issued."""
    changed = func.coalesce(CredentialRevocation.revoked_at, Certificate.issued_at)
    stmt = (select(Certificate, Level.key, CredentialRevocation, changed).join(Level, Level.id == Certificate.level_id)
            .outerjoin(CredentialRevocation, CredentialRevocation.certificate_id == Certificate.id).where(where))
    page = fetch(db.session, stmt, _query(), Certificate.id, changed, key_of=lambda row: (row[3], row[0].id))
    return _answer(page, s.CertificatePage, [
        s.CertificateOut(id=c.id, learner_id=c.user_id, level_key=k, code=c.code, issued_at=c.issued_at,
                         verify_url=_site_url("certificates.certificate", code=c.code),
                         revoked=r is not None, revoked_at=r.revoked_at if r else None,
                         revocation_reason=r.reason if r else None, updated_at=at) for c, k, r, at in page.rows])


@bp.get("/cohorts/<int:cohort_id>/certificates")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.CertificatePage), tags=["competency"], operation_id="listCertificates")
def certificates(cohort_id: int) -> Any:
    """Level certificates of the cohort's learners, current and former (their program over, or
    they left; not those who moved to another cohort), revoked ones included (`revoked`,
    `revoked_at`): the organization admins' certified list counts the same ones"""
    return _certificates(held_in_cohort(cohort_id))


# --------------------------------------------------------------------------- grades


@bp.get("/cohorts/<int:cohort_id>/quiz-attempts")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.AttemptPage), tags=["grades"], operation_id="listQuizAttempts")
def quiz_attempts(cohort_id: int) -> Any:
    """Submitted quiz attempts (a summary: score, no answers)"""
    stmt = (select(Attempt, Quiz.key).join(Quiz, Quiz.id == Attempt.quiz_id)
            .where(Attempt.cohort_id == cohort_id, Attempt.submitted_at.is_not(None)))
    return _attempts(stmt)


def _attempts(stmt: Any) -> Any:
    """Submitted attempts paged by when each last changed (submitted, or its score since:
    an essay graded, a rescore), so ``updated_since`` gives the ones graded since too."""
    changed = func.coalesce(Attempt.updated_at, Attempt.submitted_at)
    page = fetch(db.session, stmt.add_columns(changed), _query(), Attempt.id, changed, key_of=lambda row: (row[2], row[0].id))
    return _answer(page, s.AttemptPage, [
        s.AttemptOut(id=a.id, learner_id=a.user_id, quiz_key=k, number=a.number, started_at=a.started_at,
                     submitted_at=a.submitted_at, score=a.score, max_score=a.max_score, pending_manual=a.pending_manual,
                     updated_at=at)
        for a, k, at in page.rows])


# A team's one submission is the work of every member (lms.coursework.sharing, as the
# gradebook and the grade exports read it): the lists of work and grades have a row per
# learner whose work it is, each member's with their adjusted score, paged by (time, id,
# learner). The time is when the row last changed: the work or grade, or that member's
# adjustment.


@dataclass(frozen=True)
class _PerLearner:
    """A statement of work joined to whose work it is, and what a page reads of that."""

    stmt: Any  # Select
    learner: Any  # whose work the row is: a column
    changed: ColumnElement[Any] | None  # when that learner's share last changed (or null); None: no sharing at all
    shared: ColumnElement[Any] | None  # not null when the submission is shared work


def _per_learner(stmt: Any, owner_id: int | None) -> _PerLearner:
    """``stmt`` (over ``Submission``) with a row per learner whose work each submission is;
    only ``owner_id``'s rows when given (their own work and the shared work they are in)."""
    found = sharers()
    if found is None:
        return _PerLearner(stmt if owner_id is None else stmt.where(Submission.user_id == owner_id), Submission.user_id,
                           None, None)
    stmt = stmt.outerjoin(found, found.c.submission_id == Submission.id)
    if owner_id is not None:
        mine = sharers([owner_id])
        assert mine is not None
        stmt = stmt.where(or_(Submission.user_id == owner_id, Submission.id.in_(select(mine.c.submission_id))),
                          or_(found.c.learner_id == owner_id, found.c.learner_id.is_(None)))
    return _PerLearner(stmt, func.coalesce(found.c.learner_id, Submission.user_id), found.c.changed_at, found.c.learner_id)


def _later(moment: ColumnElement[Any], changed: ColumnElement[Any] | None) -> ColumnElement[Any]:
    return moment if changed is None else case((changed > moment, changed), else_=moment)


def _page_per_learner(stmt: Any, owner_id: int | None, idcol: Any, timecol: Any) -> tuple[Page, dict[int, Group]]:
    """The page of ``stmt``'s rows, each followed by (learner id, row time, share changed,
    shared), and the groups of its shared work (a fixed number of statements)."""
    per = _per_learner(stmt, owner_id)
    moment = _later(timecol, per.changed)
    extra = (per.changed if per.changed is not None else null(), per.shared if per.shared is not None else null())
    page = fetch(db.session, per.stmt.add_columns(per.learner, moment, *extra), _query(), idcol, moment,
                 key_of=lambda row: (row[-3], row[0].id, row[-4]), tiecol=per.learner)
    groups = groups_of(db.session, {row[0].id if isinstance(row[0], Submission) else row[1].id
                                    for row in page.rows if row[-1] is not None})
    return page, groups


def _grade_out(g: Grade, sub: Submission, key: str, learner_id: int, changed: datetime | None,
               group: Group | None) -> s.GradeOut:
    score, team = g.score, None
    if group is not None:
        adjustment = group.adjustments.get(learner_id)
        score = group.score_of(learner_id, g.score, g.max_score)
        team = s.TeamShareOut(name=group.name, score=g.score, adjustment=adjustment.points if adjustment else None,
                              note=adjustment.note if adjustment else "")
    return s.GradeOut(id=g.id, submission_id=sub.id, learner_id=learner_id, assignment_key=key, score=score,
                      max_score=g.max_score, feedback=g.feedback, released_at=g.released_at,
                      updated_at=max(g.updated_at, changed) if changed else g.updated_at, team=team)


def _latest_due_on() -> Any:
    """The due date the latest version of the statement's submission was judged by."""
    return (select(SubmissionVersion.due_on).where(SubmissionVersion.submission_id == Submission.id)
            .order_by(SubmissionVersion.number.desc()).limit(1).correlate(Submission).scalar_subquery())


def _submissions(where: Any, owner_id: int | None) -> Any:
    stmt = (select(Submission, Assignment.key, Grade, Submission.handed_in_late, _latest_due_on())
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .outerjoin(Grade, (Grade.submission_id == Submission.id) & (Grade.status == GradeStatus.RELEASED))
            .where(where))
    page, groups = _page_per_learner(stmt, owner_id, Submission.id, Submission.updated_at)
    items = []
    for sub, k, g, late, due_on, learner_id, moment, changed, _shared in page.rows:
        group = groups.get(sub.id)
        items.append(s.SubmissionOut(id=sub.id, learner_id=learner_id, assignment_key=k, status=sub.status.value,
                                     submitted_at=sub.submitted_at, late=bool(late), due_on=due_on, updated_at=moment,
                                     team=group.name if group else None,
                                     grade=_grade_out(g, sub, k, learner_id, changed, group) if g is not None else None))
    return _answer(page, s.SubmissionPage, items)


def _grades(where: Any, owner_id: int | None) -> Any:
    stmt = (select(Grade, Submission, Assignment.key).join(Submission, Submission.id == Grade.submission_id)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .where(where, Grade.status == GradeStatus.RELEASED))
    page, groups = _page_per_learner(stmt, owner_id, Grade.id, Grade.updated_at)
    return _answer(page, s.GradePage, [_grade_out(g, sub, k, learner_id, changed, groups.get(sub.id))
                                       for g, sub, k, learner_id, _moment, changed, _shared in page.rows])


@bp.get("/cohorts/<int:cohort_id>/submissions")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.SubmissionPage), tags=["grades"], operation_id="listSubmissions")
def submissions(cohort_id: int) -> Any:
    """Handed-in work (drafts are the learner's alone), with the grade once released; a team's
    work once per member"""
    return _submissions((Submission.cohort_id == cohort_id) & Submission.submitted_at.is_not(None), None)


@bp.get("/cohorts/<int:cohort_id>/grades")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.GradePage), tags=["grades"], operation_id="listGrades")
def grades(cohort_id: int) -> Any:
    """Released grades, a team's once per member with their adjusted score; with
    updated_since, the ones released or changed since"""
    return _grades(Submission.cohort_id == cohort_id, None)


# --------------------------------------------------------------------------- me: the token owner's own data
# Whoever calls, the rows are the token owner's (``user_id == owner``): no argument names a person.


@bp.get("/me")
@api_spec.validate(resp=Resp(HTTP_200=s.MeOut), tags=["me"], operation_id="getMe")
def me() -> Any:
    """The token's owner: profile and memberships (enrolments, cohorts taught, organizations administered)"""
    user = _owner()
    enrolled = db.session.execute(select(Enrolment, Cohort).join(Cohort, Cohort.id == Enrolment.cohort_id)
                                  .where(Enrolment.user_id == user.id).order_by(Enrolment.started_at, Enrolment.id)).all()
    taught = db.session.scalars(select(Cohort).join(cohort_instructors, cohort_instructors.c.cohort_id == Cohort.id)
                                .where(cohort_instructors.c.user_id == user.id).order_by(Cohort.id)).all()
    governed = db.session.scalars(select(Organization)
                                  .join(organization_admins, organization_admins.c.organization_id == Organization.id)
                                  .where(organization_admins.c.user_id == user.id).order_by(Organization.id)).all()
    return s.MeOut(
        id=user.id, name=user.name, email=user.email, timezone=user.timezone, site_admin=user.is_admin,
        created_at=user.created_at,
        enrolments=[s.MyEnrolmentOut(id=e.id, cohort_id=c.id, cohort_name=c.name, organization_id=c.organization_id,
                                     started_at=e.started_at, ended_at=e.ended_at, ended_reason=e.ended_reason,
                                     pace=e.pace.value) for e, c in enrolled],
        instructs=[_cohort_out(c) for c in taught],
        admin_of=[s.OrganizationOut(id=o.id, name=o.name, created_at=o.created_at) for o in governed])


@bp.get("/me/mastery")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.MasteryPage), tags=["me"], operation_id="myMastery")
def my_mastery() -> Any:
    """The owner's mastery per objective"""
    stmt = (select(Mastery, Objective.key).join(Objective, Objective.id == Mastery.objective_id)
            .where(Mastery.user_id == _owner().id))
    page = fetch(db.session, stmt, _query(), Mastery.id, Mastery.updated_at)
    return _answer(page, s.MasteryPage, [
        s.MasteryOut(id=m.id, learner_id=m.user_id, objective_key=k, level=m.level, held=m.held,
                     evidence_count=m.evidence_count, updated_at=m.updated_at) for m, k in page.rows])


@bp.get("/me/evidence")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.EvidencePage), tags=["me"], operation_id="myEvidence")
def my_evidence() -> Any:
    """The evidence behind the owner's mastery, newest last"""
    stmt = (select(Evidence, Objective.key).join(Objective, Objective.id == Evidence.objective_id)
            .where(Evidence.user_id == _owner().id))
    page = fetch(db.session, stmt, _query(), Evidence.id, Evidence.written_at)
    return _answer(page, s.EvidencePage, [
        s.EvidenceOut(id=e.id, learner_id=e.user_id, objective_key=k, source=e.source.value, level=e.level, weight=e.weight,
                      note=e.note, recorded_at=e.recorded_at, written_at=e.written_at) for e, k in page.rows])


@bp.get("/me/certificates")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.CertificatePage), tags=["me"], operation_id="myCertificates")
def my_certificates() -> Any:
    """The owner's level certificates, revoked ones included (`revoked`, `revoked_at`)"""
    return _certificates(Certificate.user_id == _owner().id)


@bp.get("/me/attempts")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.AttemptPage), tags=["me"], operation_id="myQuizAttempts")
def my_attempts() -> Any:
    """The owner's submitted quiz attempts (a summary: score, no answers)"""
    stmt = (select(Attempt, Quiz.key).join(Quiz, Quiz.id == Attempt.quiz_id)
            .where(Attempt.user_id == _owner().id, Attempt.submitted_at.is_not(None)))
    return _attempts(stmt)


@bp.get("/me/submissions")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.SubmissionPage), tags=["me"], operation_id="mySubmissions")
def my_submissions() -> Any:
    """The owner's submissions (drafts included, as on their pages) and their teams', each
    with its grade once released"""
    return _submissions(true(), _owner().id)


@bp.get("/me/grades")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.GradePage), tags=["me"], operation_id="myGrades")
def my_grades() -> Any:
    """The owner's released grades (a team's with their adjusted score); with updated_since,
    the ones released or changed since"""
    return _grades(true(), _owner().id)


# The owner's own lists lose rows only when they are deleted or taken back (a move to
# another cohort keeps them: these lists are the learner's wherever they are). Quiz
# attempts and certificates are never deleted (a revoked certificate stays listed), so
# they have no removed list.


@bp.get("/me/mastery/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["me"], operation_id="myRemovedMastery")
def my_removed_mastery() -> Any:
    """The owner's mastery rows deleted (no evidence left that counts, or every row rebuilt);
    with updated_since, those removed since"""
    return _my_removed(RemovedKind.MASTERY)


@bp.get("/me/evidence/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["me"], operation_id="myRemovedEvidence")
def my_removed_evidence() -> Any:
    """The owner's evidence rows deleted or replaced (a regrade replaces its work's evidence);
    with updated_since, those removed since"""
    return _my_removed(RemovedKind.EVIDENCE)


@bp.get("/me/submissions/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["me"], operation_id="myRemovedSubmissions")
def my_removed_submissions() -> Any:
    """The owner's submissions deleted, and a team's work no longer theirs (its draft
    discarded, whoever held it, or the owner taken out of the team); with updated_since,
    those removed since"""
    return _my_removed(RemovedKind.SUBMISSION)


@bp.get("/me/grades/removed")
@api_spec.validate(query=s.SyncQuery, resp=Resp(HTTP_200=s.RemovalPage), tags=["me"], operation_id="myRemovedGrades")
def my_removed_grades() -> Any:
    """The owner's released grades taken back (saved as a draft again, or the work returned
    for revision), a team's for each member; with updated_since, those removed since"""
    return _my_removed(RemovedKind.GRADE)

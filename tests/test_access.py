"""Every route, for every kind of visitor, answers as ``lms/policy.py`` declares.

``ROUTES`` must name every endpoint in the URL map: a new route without a row fails
``test_every_route_is_in_the_table``. Each row gives the request and the expected answer
for each role, where the target is organization A, its cohort A (started five months
ago) and learner A:

  ok       the page (200), a redirect elsewhere than sign-in, or for a POST without
           data the form re-rendered with its errors (400)
  login    a redirect to the sign-in page (carrying ``next``)
  forbid   403: signed in, inside the organization, without the role
  missing  404: no link to the organization, so not told it exists
  <int>    exactly this status
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.accounts.devices import begin as begin_sign_in
from lms.accounts.services import create_user, hash_token
from lms.announcements.services import post as post_announcement
from lms.api.models import Scope
from lms.api.tokens import create_token as create_api_token
from lms.assessment.models import Response
from lms.assessment.services import get_quiz, page_views, quiz_window, save_page, start_attempt
from lms.catalog.models import Level, Module
from lms.certificates.models import Certificate
from lms.cohorts.access import LEARNER_OR_FORMER
from lms.cohorts.csv_import import preview_import
from lms.cohorts.enrolment import end_enrolment, enrol
from lms.cohorts.invitations import invite_learner, invite_organization_admin
from lms.coursework.models import SubmissionStatus
from lms.coursework.services import add_attachment, dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.discussions.models import Post
from lms.discussions.services import reply as reply_in_thread
from lms.discussions.services import start_thread
from lms.expert.services import invite as invite_expert
from lms.extensions import db
from lms.feedback.services import invite as invite_stakeholder
from lms.framework.services import node_id
from lms.grading.peer import reviews_to_do
from lms.inbox.services import open_conversations
from lms.inbox.services import reply as reply_in_conversation
from lms.jobs.models import Job, JobStatus
from lms.learning.services import build_schedule, grant_override
from lms.lti.models import LtiPlatform
from lms.lti.services import map_context as map_lti_context
from lms.notifications.models import NotificationEvent
from lms.notifications.services import notify
from lms.openbadges.services import ensure_key as ensure_badge_key
from lms.portfolio.services import eligible_work, portfolio_for, review_assignment, submit_for_review
from lms.simulations.services import get_simulation, start_run
from lms.teams.services import Upload, add_member, create_team
from lms.teams.services import save_work as save_team_work
from lms.twofactor.models import RememberedDevice
from lms.twofactor.services import remember_device
from lms.web.access import rule_for
from lms.webhooks.models import WebhookEvent
from lms.webhooks.services import create_endpoint, queue_event
from tests.conftest import World

ROLES = [
    "anonymous", "nobody", "learner", "learner_other_cohort", "learner_other_org",
    "instructor", "instructor_other_cohort", "org_admin", "org_admin_other_org", "admin",
]
USER_OF_ROLE = {
    "nobody": "nobody", "learner": "learner_a", "learner_other_cohort": "learner_a2",
    "learner_other_org": "learner_b", "instructor": "instructor_a", "instructor_other_cohort": "instructor_b",
    "org_admin": "org_admin_a", "org_admin_other_org": "org_admin_b", "admin": "admin",
}
MONTH_6_LESSON = "cs-predictive-insights"


def expect(default: Any, **by_role: Any) -> dict[str, Any]:
    assert set(by_role) <= set(ROLES), set(by_role) - set(ROLES)
    return {role: by_role.get(role, default) for role in ROLES}


EVERYONE = expect("ok")
SIGNED_IN = expect("ok", anonymous="login")
SITE_ADMIN = expect("forbid", anonymous="login", admin="ok")
# Organization A's own people are told "forbidden"; everybody else "not found".
_OUTSIDERS = dict(nobody="missing", learner_other_org="missing", instructor_other_cohort="missing",
                  org_admin_other_org="missing")
ORG_ADMIN = expect("forbid", anonymous="login", org_admin="ok", admin="ok", **_OUTSIDERS)
COHORT_STAFF = expect("forbid", anonymous="login", instructor="ok", org_admin="ok", admin="ok", **_OUTSIDERS)
COHORT_MANAGER = expect("forbid", anonymous="login", org_admin="ok", admin="ok", **_OUTSIDERS)
# Site admins read the whole audit log, every organization admin their organizations' entries.
AUDIT_READER = expect("forbid", anonymous="login", org_admin="ok", org_admin_other_org="ok", admin="ok")
STAFF = expect("ok", anonymous="login", nobody="forbid", learner="forbid", learner_other_cohort="forbid", learner_other_org="forbid")
LEARNERS = expect("forbid", anonymous="login", learner="ok", learner_other_cohort="ok", learner_other_org="ok")
LESSON = expect("ok", anonymous="login", nobody="forbid", learner_other_cohort="forbid")
# Handing in work: enrolled learners whose schedule has released the assignment.
HAND_IN = expect("forbid", anonymous="login", learner="ok", learner_other_org="ok")
# A background job's page and file: who asked for it (instructor A) and site admins; nobody else learns it exists.
JOB_REQUESTER = expect("missing", anonymous="login", instructor="ok", admin="ok")
# A learner's file: them and their cohort's staff; nobody else learns it exists.
COHORT_FILE = expect("missing", anonymous="login", learner="ok", instructor="ok", org_admin="ok", admin="ok")
# An attempt (or a peer review) is its learner's alone; for everybody else its id does not exist.
OWN_ATTEMPT = expect("missing", anonymous="login", learner="ok")
# A learner's own row under the LEARNER rule: other learners are told it does not exist.
OWN_AS_LEARNER = expect("forbid", anonymous="login", learner="ok", learner_other_cohort="missing", learner_other_org="missing")
# A cohort's discussions: its learners and staff; anybody else (another cohort's learners too) is not told they exist.
DISCUSSION = COHORT_FILE
DISCUSSION_STAFF = expect("missing", anonymous="login", learner="forbid", instructor="ok", org_admin="ok", admin="ok")
# A conversation between learner A and cohort A's staff: them alone; the cohort's other learners are not told it exists.
CONVERSATION = COHORT_FILE
# Learner A's post: edited by them alone; the rest of the cohort is told "forbidden".
POST_AUTHOR = expect("missing", anonymous="login", learner="ok", instructor="forbid", org_admin="forbid", admin="forbid")
# The program's CASE document (its identifier is derived from the program's id).
CASE_DOCUMENT = node_id("ai-operations", "document:ai-operations")
# The month-9 team project: learner A has early access to it; for the other learners it is not released yet.
TEAM_KEY = "intl-hands-on-entry-plan"
TEAM_LEARNER = expect("forbid", anonymous="login", learner="ok")


@dataclass
class Route:
    url: Callable[[World, dict[str, Any]], str]
    expected: dict[str, Any]
    method: str = "GET"
    data: dict[str, Any] = field(default_factory=dict)


A = "cohort_a"
# The REST API v1, with a bearer token of each role's user (all scopes): what the owner may
# see in the web app; no token at all is a 401 (not a sign-in redirect).


def as_token(expected: dict[str, Any]) -> dict[str, Any]:
    return {role: 401 if answer == "login" else answer for role, answer in expected.items()}


API_PUBLIC = {"api_v1.openapi", "api_v1.docs"}
API_ME = {"api_v1.me", "api_v1.my_mastery", "api_v1.my_evidence", "api_v1.my_certificates", "api_v1.my_attempts",
          "api_v1.my_submissions", "api_v1.my_grades", "api_v1.my_removed_mastery", "api_v1.my_removed_evidence",
          "api_v1.my_removed_submissions", "api_v1.my_removed_grades"}  # personal tokens only (an organization token is not a person)
_API_COHORT = as_token(COHORT_STAFF)
API_ROUTES: dict[str, Route] = {
    "api_v1.openapi": Route(lambda w, x: "/api/v1/openapi.json", EVERYONE),
    "api_v1.docs": Route(lambda w, x: "/api/v1/docs", EVERYONE),
    "api_v1.organizations": Route(lambda w, x: "/api/v1/organizations", as_token(STAFF)),
    "api_v1.cohorts": Route(lambda w, x: "/api/v1/cohorts", as_token(STAFF)),
    "api_v1.cohort": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}", _API_COHORT),
    "api_v1.learners": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/learners", _API_COHORT),
    "api_v1.learner": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}", _API_COHORT),
    "api_v1.enrolments": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/enrolments", _API_COHORT),
    "api_v1.removed_learners": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/learners/removed", _API_COHORT),
    "api_v1.invite": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/enrolments", as_token(COHORT_MANAGER), "POST",
                           {"email": "api-invited@example.com"}),
    "api_v1.levels": Route(lambda w, x: "/api/v1/curriculum/levels", as_token(SIGNED_IN)),
    "api_v1.modules": Route(lambda w, x: "/api/v1/curriculum/modules", as_token(SIGNED_IN)),
    "api_v1.objectives": Route(lambda w, x: "/api/v1/curriculum/objectives", as_token(SIGNED_IN)),
    "api_v1.metrics": Route(lambda w, x: "/api/v1/curriculum/metrics", as_token(SIGNED_IN)),
    "api_v1.cohort_mastery": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/mastery", _API_COHORT),
    "api_v1.learner_mastery": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/mastery", _API_COHORT),
    "api_v1.evidence": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/evidence", _API_COHORT),
    "api_v1.removed_evidence": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/evidence/removed", _API_COHORT),
    "api_v1.removed_mastery": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/mastery/removed", _API_COHORT),
    "api_v1.kpi": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/kpi", _API_COHORT),
    "api_v1.certificates": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/certificates", _API_COHORT),
    "api_v1.quiz_attempts": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/quiz-attempts", _API_COHORT),
    "api_v1.submissions": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/submissions", _API_COHORT),
    "api_v1.grades": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/grades", _API_COHORT),
    "api_v1.removed_grades": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/grades/removed", _API_COHORT),
    "api_v1.removed_submissions": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/submissions/removed", _API_COHORT),
    "api_v1.removed_quiz_attempts": Route(lambda w, x: f"/api/v1/cohorts/{w.cohort_a.id}/quiz-attempts/removed", _API_COHORT),
    # "me": the token owner's own data, for every signed-in role (see test_me_is_always_the_tokens_owner)
    **{endpoint: Route(lambda w, x, path=path: f"/api/v1/me{path}", as_token(SIGNED_IN))
       for endpoint, path in (("api_v1.me", ""), ("api_v1.my_mastery", "/mastery"), ("api_v1.my_evidence", "/evidence"),
                              ("api_v1.my_certificates", "/certificates"), ("api_v1.my_attempts", "/attempts"),
                              ("api_v1.my_submissions", "/submissions"), ("api_v1.my_grades", "/grades"),
                              ("api_v1.my_removed_mastery", "/mastery/removed"),
                              ("api_v1.my_removed_evidence", "/evidence/removed"),
                              ("api_v1.my_removed_submissions", "/submissions/removed"),
                              ("api_v1.my_removed_grades", "/grades/removed"))},
}
ROUTES: dict[str, Route] = {
    "web.health": Route(lambda w, x: "/healthz", EVERYONE),
    "web.accessibility": Route(lambda w, x: "/accessibility", EVERYONE),
    "catalog.program": Route(lambda w, x: "/", EVERYONE),
    "catalog.level": Route(lambda w, x: "/levels/intermediate", EVERYONE),
    "catalog.module": Route(lambda w, x: "/modules/mlops", EVERYONE),
    "catalog.objectives": Route(lambda w, x: "/objectives", EVERYONE),
    "catalog.lesson": Route(lambda w, x: f"/lessons/{MONTH_6_LESSON}", LESSON),
    "resources.library": Route(lambda w, x: "/templates", SIGNED_IN),
    "resources.template": Route(lambda w, x: "/templates/model-card", SIGNED_IN),
    "resources.download": Route(lambda w, x: "/templates/model-card/download", SIGNED_IN),
    "accounts.login": Route(lambda w, x: "/login", EVERYONE),
    "web.favicon": Route(lambda w, x: "/favicon.ico", EVERYONE),
    "accounts.logout": Route(lambda w, x: "/logout", SIGNED_IN, "POST"),
    "accounts.account": Route(lambda w, x: "/account", SIGNED_IN),
    # learner A's sign-in on another device: ended by them alone; for everybody else its id does not exist
    "accounts.end_sign_in": Route(lambda w, x: f"/account/sign-ins/{x['sign_in_id']}/end", OWN_ATTEMPT, "POST"),
    "accounts.end_other_sign_ins": Route(lambda w, x: "/account/sign-ins/end-others", SIGNED_IN, "POST"),
    "search.search": Route(lambda w, x: "/search?q=quality", SIGNED_IN),
    "accounts.forgot_password": Route(lambda w, x: "/password/forgot", EVERYONE),
    "accounts.reset_password": Route(lambda w, x: "/password/reset/not-a-token", expect(400)),
    "accounts.unlock": Route(lambda w, x: "/login/unlock/not-a-token", expect(400)),
    # two-factor sign-in: with no sign-in under way the code step sends back to sign in (a redirect: ok)
    "twofactor.challenge": Route(lambda w, x: "/login/two-factor", EVERYONE),
    "twofactor.cancel": Route(lambda w, x: "/account/two-factor/cancel", EVERYONE, "POST"),
    "twofactor.setup": Route(lambda w, x: "/account/two-factor", SIGNED_IN),
    "twofactor.disable": Route(lambda w, x: "/account/two-factor/off", SIGNED_IN),
    # nobody in the access world has two-factor on: everyone signed in is sent to their account page
    "twofactor.new_codes": Route(lambda w, x: "/account/two-factor/codes", SIGNED_IN),
    "twofactor.forget_device": Route(lambda w, x: f"/account/two-factor/devices/{x['device_id']}/forget",
                                     expect("missing", anonymous="login", learner="ok"), "POST"),
    "twofactor.organization_policy": Route(lambda w, x: f"/organizations/{w.org_a.id}/two-factor", ORG_ADMIN),
    "twofactor.admin_reset": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/two-factor/reset", SITE_ADMIN, "POST"),
    "sso.settings": Route(lambda w, x: f"/organizations/{w.org_a.id}/single-sign-on", ORG_ADMIN),
    "sso.start": Route(lambda w, x: "/login/organization", EVERYONE),
    # organization A has no single sign-on: "not offered" (signed-in people are sent on)
    "sso.begin": Route(lambda w, x: f"/login/organization/{w.org_a.id}", expect("ok", anonymous=404)),
    "sso.callback": Route(lambda w, x: "/login/organization/callback?code=x&state=y", expect(400)),
    "sso.confirm": Route(lambda w, x: "/login/organization/confirm", expect(400), "POST"),
    "lti.jwks": Route(lambda w, x: "/lti/jwks", EVERYONE),
    "lti.login": Route(lambda w, x: "/lti/login", expect(400)),
    "lti.launch": Route(lambda w, x: "/lti/launch", expect(400), "POST"),
    "lti.deep_link": Route(lambda w, x: "/lti/deep-link", expect(400, anonymous="login")),
    "lti.platforms": Route(lambda w, x: "/admin/lti", SITE_ADMIN),
    "lti.platform": Route(lambda w, x: f"/admin/lti/platforms/{x['lti_platform_id']}", SITE_ADMIN),
    "lti.map_context": Route(lambda w, x: f"/admin/lti/platforms/{x['lti_platform_id']}/contexts", SITE_ADMIN, "POST"),
    "lti.sync_roster": Route(lambda w, x: f"/admin/lti/contexts/{x['lti_context_id']}/roster", SITE_ADMIN, "POST"),
    "lti.retry_scores": Route(lambda w, x: "/admin/lti/scores/retry", SITE_ADMIN, "POST"),
    "lti.configuration": Route(lambda w, x: "/admin/lti/configuration", SITE_ADMIN),
    "cohorts.organizations": Route(lambda w, x: "/admin/organizations", SITE_ADMIN),
    "cohorts.organization_admin": Route(lambda w, x: f"/admin/organizations/{w.org_a.id}", SITE_ADMIN),
    "cohorts.remove_organization_admin": Route(lambda w, x: f"/admin/organizations/{w.org_a.id}/admins/{w.nobody.id}/remove",
                                               SITE_ADMIN, "POST"),
    "cohorts.withdraw_admin_invitation": Route(
        lambda w, x: f"/admin/organizations/{w.org_a.id}/invitations/{x['admin_invitation_id']}/withdraw", SITE_ADMIN, "POST"),
    "admin.users": Route(lambda w, x: "/admin/users?q=learner", SITE_ADMIN),
    "admin.user": Route(lambda w, x: f"/admin/users/{w.learner_a.id}", SITE_ADMIN),
    "admin.deactivate": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/deactivate", SITE_ADMIN, "POST"),
    "admin.reactivate": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/reactivate", SITE_ADMIN, "POST"),
    "admin.end_sessions": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/end-sessions", SITE_ADMIN, "POST"),
    "admin.send_reset_link": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/reset-link", SITE_ADMIN, "POST"),
    "admin.audit": Route(lambda w, x: "/admin/audit", AUDIT_READER),
    "admin.audit_export": Route(lambda w, x: "/admin/audit/export.csv", AUDIT_READER),
    "mail.outbox": Route(lambda w, x: "/admin/mail", SITE_ADMIN),
    "mail.retry": Route(lambda w, x: "/admin/mail/1/retry", SITE_ADMIN, "POST"),
    "mail.retry_failed": Route(lambda w, x: "/admin/mail/retry-failed", SITE_ADMIN, "POST"),
    # background jobs: the site admin's list and retry; a job's page and file for who asked for it (instructor A)
    "jobs.board": Route(lambda w, x: "/admin/jobs", SITE_ADMIN),
    "jobs.retry": Route(lambda w, x: f"/admin/jobs/{x['job_id']}/retry", SITE_ADMIN, "POST"),
    "jobs.run_now": Route(lambda w, x: "/admin/jobs/run", SITE_ADMIN, "POST"),
    "jobs.job": Route(lambda w, x: f"/jobs/{x['job_id']}", JOB_REQUESTER),
    "jobs.download": Route(lambda w, x: f"/jobs/{x['job_id']}/download", JOB_REQUESTER),
    "jobs.cohort_export": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/exports/competency.csv", COHORT_STAFF, "POST"),
    "jobs.organization_export": Route(lambda w, x: f"/organizations/{w.org_a.id}/exports/competency.json", ORG_ADMIN, "POST"),
    "cohorts.organization": Route(lambda w, x: f"/organizations/{w.org_a.id}", ORG_ADMIN),
    "cohorts.organization_admins": Route(lambda w, x: f"/organizations/{w.org_a.id}/admins", ORG_ADMIN),
    "cohorts.new_cohort": Route(lambda w, x: f"/organizations/{w.org_a.id}/cohorts/new", ORG_ADMIN),
    "cohorts.cohort": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}", COHORT_STAFF),
    "cohorts.edit_cohort": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/edit", COHORT_MANAGER),
    "cohorts.archive_cohort": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/archive", COHORT_MANAGER, "POST"),
    "cohorts.invite": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/invitations", COHORT_MANAGER, "POST"),
    "cohorts.invite_instructor": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/instructor-invitations", COHORT_MANAGER, "POST"),
    "cohorts.resend_invitation": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/invitations/{x['invitation_id']}/resend",
                                       COHORT_MANAGER, "POST"),
    "cohorts.withdraw_invitation": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/invitations/{x['withdrawn_invitation_id']}/withdraw",
                                         COHORT_MANAGER, "POST"),
    "cohorts.import_learners": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/import", COHORT_MANAGER),
    "cohorts.import_preview": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/import/{x['import_id']}", COHORT_MANAGER),
    "cohorts.confirm_import": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/import/{x['import_id']}", COHORT_MANAGER, "POST"),
    "cohorts.move_learner": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/move", COHORT_MANAGER, "POST"),
    "cohorts.end_enrolment": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/end", COHORT_MANAGER),
    "cohorts.accept_invitation": Route(lambda w, x: "/invitations/not-a-token", expect(400)),
    "learning.home": Route(lambda w, x: "/home", SIGNED_IN),
    "learning.schedule": Route(lambda w, x: "/schedule", LEARNERS),
    "learning.calendar_link": Route(lambda w, x: "/schedule/calendar", LEARNERS, "POST"),
    "learning.revoke_calendar_link": Route(lambda w, x: "/schedule/calendar/revoke", LEARNERS, "POST"),
    "learning.calendar_feed": Route(lambda w, x: "/calendar/not-a-token.ics", expect("missing")),
    "today.teaching_calendar": Route(lambda w, x: "/teaching/calendar", STAFF),
    "today.teaching_calendar_link": Route(lambda w, x: "/teaching/calendar", STAFF, "POST"),
    "today.revoke_teaching_calendar_link": Route(lambda w, x: "/teaching/calendar/revoke", STAFF, "POST"),
    "today.teaching_calendar_feed": Route(lambda w, x: "/teaching-calendar/not-a-token.ics", expect("missing")),
    "learning.learner": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}", COHORT_STAFF),
    "learning.grant_override": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/overrides", COHORT_STAFF, "POST"),
    "learning.remove_extension": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/overrides/999999/remove",
                                       COHORT_STAFF, "POST"),
    "learning.set_pace": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/pace", COHORT_MANAGER, "POST"),
    "learning.set_time_allowance": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/time-allowance",
                                         COHORT_STAFF, "POST"),
    "assessment.quizzes": Route(lambda w, x: "/quizzes", SIGNED_IN),
    "assessment.quiz": Route(lambda w, x: "/quizzes/mlops-quiz", SIGNED_IN),
    "assessment.start": Route(lambda w, x: "/quizzes/mlops-quiz/start", LEARNERS, "POST"),
    "assessment.page": Route(lambda w, x: f"/attempts/{x['attempt_id']}/pages/0", OWN_ATTEMPT),
    "assessment.save": Route(lambda w, x: f"/attempts/{x['attempt_id']}/pages/0", OWN_ATTEMPT, "POST"),
    "assessment.review": Route(lambda w, x: f"/attempts/{x['attempt_id']}/review", OWN_ATTEMPT),
    "assessment.submit": Route(lambda w, x: f"/attempts/{x['attempt_id']}/submit", OWN_ATTEMPT, "POST"),
    "assessment.result": Route(lambda w, x: f"/attempts/{x['attempt_id']}", OWN_ATTEMPT),
    "assessment.statistics": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/quizzes/mlops-quiz/statistics", COHORT_STAFF),
    # Without data the form is re-rendered with its errors (400): nothing is withdrawn.
    "assessment.withdraw_item": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/quizzes/mlops-quiz/withdraw", COHORT_STAFF, "POST"),
    "assessment.essay_queue": Route(lambda w, x: "/grading/essays", STAFF),
    "coursework.assignments": Route(lambda w, x: "/coursework", SIGNED_IN),
    "coursework.assignment": Route(lambda w, x: "/assignments/cs-hands-on-own-operation", LESSON),
    "coursework.work": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/work", HAND_IN),
    "coursework.save_work": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/work", HAND_IN, "POST"),
    "coursework.remove_attachment": Route(lambda w, x: f"/assignments/cs-hands-on-own-operation/work/attachments/{x['attachment_id']}/remove",
                                          HAND_IN, "POST"),
    "coursework.attachment": Route(lambda w, x: f"/attachments/{x['attachment_id']}", COHORT_FILE),
    "notifications.centre": Route(lambda w, x: "/notifications", SIGNED_IN),
    "notifications.open": Route(lambda w, x: f"/notifications/{x['notification_id']}/open", OWN_ATTEMPT, "POST"),
    "notifications.read": Route(lambda w, x: f"/notifications/{x['notification_id']}/read", OWN_ATTEMPT, "POST"),
    "notifications.read_all": Route(lambda w, x: "/notifications/read-all", SIGNED_IN, "POST"),
    "notifications.preferences": Route(lambda w, x: "/notifications/preferences", SIGNED_IN),
    "notifications.save_preferences": Route(lambda w, x: "/notifications/preferences", SIGNED_IN, "POST"),
    "privacy.data": Route(lambda w, x: "/account/data", SIGNED_IN),
    "privacy.export": Route(lambda w, x: "/account/data/export", SIGNED_IN, "POST"),
    "privacy.erase": Route(lambda w, x: f"/admin/users/{w.learner_a.id}/erase", SITE_ADMIN),
    # webhooks: organization A's endpoint and a delivery to it (another organization's admin: not found)
    "webhooks.endpoints": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks", ORG_ADMIN),
    "webhooks.endpoint": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks/{x['webhook_id']}", ORG_ADMIN),
    "webhooks.toggle": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks/{x['webhook_id']}/active", ORG_ADMIN, "POST"),
    "webhooks.rotate": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks/{x['webhook_id']}/secret", ORG_ADMIN, "POST"),
    "webhooks.send_test": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks/{x['webhook_id']}/test", ORG_ADMIN, "POST"),
    "webhooks.redeliver": Route(lambda w, x: f"/organizations/{w.org_a.id}/webhooks/deliveries/{x['delivery_id']}/redeliver",
                                ORG_ADMIN, "POST"),
    # the CASE framework: public
    "framework.documents": Route(lambda w, x: "/ims/case/v1p0/CFDocuments", EVERYONE),
    "framework.document": Route(lambda w, x: f"/ims/case/v1p0/CFDocuments/{CASE_DOCUMENT}", EVERYONE),
    "framework.package": Route(lambda w, x: f"/ims/case/v1p0/CFPackages/{CASE_DOCUMENT}", EVERYONE),
    "framework.item": Route(lambda w, x: f"/ims/case/v1p0/CFItems/{node_id('ai-operations', 'objective:KO1')}", EVERYONE),
    "grading.queue": Route(lambda w, x: "/grading", STAFF),
    "grading.grade": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['submission_id']}", COHORT_STAFF),
    "grading.save": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['submission_id']}", COHORT_STAFF, "POST"),
    "grading.export": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/grades.csv", COHORT_STAFF),
    "grading.peer_reviews": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/peer-reviews", HAND_IN),
    "grading.request_reviews": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/peer-reviews", HAND_IN, "POST"),
    "grading.review_one_more": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/peer-reviews/one-more", HAND_IN, "POST"),
    "grading.peer_review": Route(lambda w, x: f"/peer-reviews/{x['review_id']}", OWN_ATTEMPT),
    "grading.save_peer_review": Route(lambda w, x: f"/peer-reviews/{x['review_id']}", OWN_ATTEMPT, "POST"),
    "grading.peer_review_file": Route(lambda w, x: f"/peer-reviews/{x['review_id']}/files/{x['peer_file_id']}", OWN_ATTEMPT),
    "grading.reassign_review": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/peer-reviews/{x['review_id']}/reassign", COHORT_STAFF, "POST"),
    "grading.cohort_peer_reviews": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/assignments/cs-hands-on-own-operation/peer-reviews",
                                         COHORT_STAFF),
    "grading.assign_reviewer": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/assignments/cs-hands-on-own-operation/peer-reviews/assign",
                                     COHORT_STAFF, "POST"),
    "gradebook.page": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook?show=overdue", COHORT_STAFF),
    "gradebook.export": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook.json", COHORT_STAFF),
    "gradebook.bulk": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook", COHORT_STAFF, "POST"),
    "gradebook.remove_extensions": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook/remove-extensions", COHORT_STAFF,
                                         "POST"),
    "gradebook.message_at_risk_form": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook/message-at-risk?q=a",
                                            COHORT_STAFF),
    "gradebook.message_at_risk": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/gradebook/message-at-risk", COHORT_STAFF, "POST"),
    "portfolio.levels": Route(lambda w, x: "/portfolio", LEARNERS),
    "portfolio.portfolio": Route(lambda w, x: "/portfolio/foundation", LEARNERS),
    "portfolio.save": Route(lambda w, x: "/portfolio/foundation", LEARNERS, "POST"),
    "portfolio.share": Route(lambda w, x: "/portfolio/foundation/share", LEARNERS, "POST"),
    "portfolio.unshare": Route(lambda w, x: "/portfolio/foundation/share/revoke", LEARNERS, "POST"),
    "portfolio.shared": Route(lambda w, x: "/shared/portfolios/not-a-token", expect("missing")),
    "portfolio.shared_file": Route(lambda w, x: f"/shared/portfolios/not-a-token/files/{x['attachment_id']}", expect("missing")),
    # a piece of work in the classmate's foundation portfolio handed in to cohort A, and its file: for its graders
    "portfolio.piece": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['portfolio_review_id']}/pieces/{x['piece_id']}",
                             COHORT_STAFF),
    "portfolio.piece_file": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['portfolio_review_id']}/pieces/"
                                               f"{x['piece_id']}/files/{x['piece_file_id']}", COHORT_STAFF),
    "certificates.mine": Route(lambda w, x: "/certificates", LEARNERS),
    "certificates.check": Route(lambda w, x: "/certificates/check", LEARNERS, "POST"),
    "certificates.cohort_certificates": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/certificates", COHORT_MANAGER),
    "certificates.certificate": Route(lambda w, x: "/certificates/not-a-code", expect("missing")),
    "certificates.assertion": Route(lambda w, x: "/badges/assertions/not-a-code.json", expect("missing")),
    "certificates.badge_class": Route(lambda w, x: "/badges/foundation.json", EVERYONE),
    "certificates.badge_image": Route(lambda w, x: "/badges/foundation.svg", EVERYONE),
    "certificates.issuer": Route(lambda w, x: "/badges/issuer.json", EVERYONE),
    "openbadges.issuer": Route(lambda w, x: "/badges/v3/issuer", EVERYONE),
    "openbadges.jwks": Route(lambda w, x: "/badges/v3/jwks.json", EVERYONE),
    "openbadges.credential": Route(lambda w, x: f"/badges/v3/credentials/{x['certificate_code']}.jwt", EVERYONE),
    "openbadges.credential_json": Route(lambda w, x: "/badges/v3/credentials/not-a-code", expect("missing")),
    "openbadges.status_list": Route(lambda w, x: "/badges/v3/status/revocation", EVERYONE),
    "openbadges.verify_page": Route(lambda w, x: "/badges/v3/verify", EVERYONE),
    "openbadges.verify_json": Route(lambda w, x: "/badges/v3/verify.json?credential=a.b.c", EVERYONE),
    "openbadges.manage": Route(lambda w, x: f"/badges/v3/manage/{x['certificate_code']}",
                               expect("missing", anonymous="login", org_admin="ok", admin="ok")),
    "progress.overview": Route(lambda w, x: "/progress", LEARNERS),
    "progress.competency": Route(lambda w, x: "/progress/competency", LEARNERS),
    "progress.read_lesson": Route(lambda w, x: f"/lessons/{MONTH_6_LESSON}/read", LESSON, "POST"),
    "progress.learner": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/progress", COHORT_STAFF),
    "progress.rate": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/ratings", COHORT_STAFF, "POST"),
    "feedback.mine": Route(lambda w, x: "/feedback", LEARNERS),
    "feedback.create": Route(lambda w, x: "/feedback", LEARNERS, "POST"),
    "feedback.revoke": Route(lambda w, x: f"/feedback/{x['feedback_invite_id']}/revoke", OWN_AS_LEARNER, "POST"),
    "feedback.respond": Route(lambda w, x: "/f/not-a-token", expect("missing")),
    "feedback.answer": Route(lambda w, x: "/f/not-a-token", expect("missing"), "POST"),
    "feedback.learner": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/feedback", COHORT_STAFF),
    "expert.mine": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/experts", HAND_IN),
    "expert.invite_mine": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/experts", HAND_IN, "POST"),
    "expert.submission": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['submission_id']}/experts", COHORT_STAFF),
    "expert.invite_staff": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/submissions/{x['submission_id']}/experts", COHORT_STAFF, "POST"),
    # Learner A's invitation: withdrawn by them or their cohort's staff; for everybody else it does not exist.
    "expert.revoke": Route(lambda w, x: f"/experts/{x['expert_invite_id']}/revoke", COHORT_FILE, "POST"),
    "expert.evaluate": Route(lambda w, x: "/e/not-a-token", expect("missing")),
    "expert.rate": Route(lambda w, x: "/e/not-a-token", expect("missing"), "POST"),
    "expert.file": Route(lambda w, x: f"/e/not-a-token/files/{x['attachment_id']}", expect("missing")),
    "kpi.tracker": Route(lambda w, x: "/kpis", LEARNERS),
    "kpi.record": Route(lambda w, x: "/kpis", LEARNERS, "POST"),
    "kpi.metric": Route(lambda w, x: "/kpis/mlops-system-uptime", LEARNERS),
    "competency.heat_map": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/competency?sort=KO2&dir=desc", COHORT_STAFF),
    "competency.export": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/competency.json", COHORT_STAFF),
    "competency.trend": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/competency/trend", COHORT_STAFF),
    "competency.organization": Route(lambda w, x: f"/organizations/{w.org_a.id}/competency", ORG_ADMIN),
    "competency.organization_export_file": Route(lambda w, x: f"/organizations/{w.org_a.id}/competency.csv", ORG_ADMIN),
    "competency.at_risk_learner": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/at-risk", COHORT_STAFF),
    "competency.review": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/at-risk", COHORT_STAFF, "POST"),
    "grading.feedback": Route(lambda w, x: "/assignments/cs-hands-on-own-operation/feedback", HAND_IN),
    "assessment.grade": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/responses/{x['response_id']}/grade", COHORT_STAFF, "POST"),
    "simulations.index": Route(lambda w, x: "/simulations", SIGNED_IN),
    "simulations.simulation": Route(lambda w, x: "/simulations/mlops-2am-outage", SIGNED_IN),
    "simulations.start": Route(lambda w, x: "/simulations/mlops-2am-outage/start", LEARNERS, "POST"),
    "simulations.run": Route(lambda w, x: f"/simulation-runs/{x['simulation_run_id']}", OWN_ATTEMPT),
    "simulations.choose": Route(lambda w, x: f"/simulation-runs/{x['simulation_run_id']}", OWN_ATTEMPT, "POST"),
    "simulations.cohort": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/simulations", COHORT_STAFF),
    "announcements.manage": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/announcements", COHORT_STAFF),
    "announcements.create": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/announcements", COHORT_STAFF, "POST"),
    "announcements.edit": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/announcements/{x['announcement_id']}/edit", COHORT_STAFF),
    "announcements.save": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/announcements/{x['announcement_id']}/edit",
                                COHORT_STAFF, "POST"),
    "announcements.delete": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/announcements/{x['doomed_announcement_id']}/delete",
                                  COHORT_STAFF, "POST"),
    "announcements.mine": Route(lambda w, x: "/announcements", LEARNERS),
    "announcements.dismiss": Route(lambda w, x: f"/announcements/{x['announcement_id']}/dismiss",
                                   expect("missing", anonymous="login", learner="ok"), "POST"),
    "discussions.start": Route(lambda w, x: "/discussions", SIGNED_IN),
    "discussions.index": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/discussions", DISCUSSION),
    "discussions.module": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/discussions/mlops", DISCUSSION),
    "discussions.new_thread": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/discussions/mlops", DISCUSSION, "POST"),
    "discussions.thread": Route(lambda w, x: f"/threads/{x['thread_id']}", DISCUSSION),
    "discussions.reply": Route(lambda w, x: f"/threads/{x['thread_id']}", DISCUSSION, "POST"),
    "discussions.moderate_thread": Route(lambda w, x: f"/threads/{x['thread_id']}/moderate", DISCUSSION_STAFF, "POST"),
    "discussions.moderate_post": Route(lambda w, x: f"/posts/{x['reply_id']}/moderate", DISCUSSION_STAFF, "POST"),
    "discussions.edit_post": Route(lambda w, x: f"/posts/{x['post_id']}/edit", POST_AUTHOR),
    "discussions.save_post": Route(lambda w, x: f"/posts/{x['post_id']}/edit", POST_AUTHOR, "POST"),
    # the inbox: everyone's own list; a conversation with learner A is theirs and cohort A's staff's alone
    "inbox.index": Route(lambda w, x: "/inbox", SIGNED_IN),
    "inbox.conversation": Route(lambda w, x: f"/inbox/{x['conversation_id']}", CONVERSATION),
    "inbox.reply": Route(lambda w, x: f"/inbox/{x['conversation_id']}", CONVERSATION, "POST"),
    "inbox.mark_read": Route(lambda w, x: f"/inbox/{x['conversation_id']}/read", CONVERSATION, "POST"),
    "inbox.new_conversation": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/message", COHORT_STAFF),
    "inbox.start_conversation": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/learners/{w.learner_a.id}/message",
                                      COHORT_STAFF, "POST"),
    "inbox.new_to_staff": Route(lambda w, x: "/inbox/new", LEARNERS),
    "inbox.write_to_staff": Route(lambda w, x: "/inbox/new", LEARNERS, "POST"),
    # learner A's team (handed in, so nothing here changes it) for the month-9 team project
    "teams.team": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team", TEAM_LEARNER),
    "teams.create": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team/new", TEAM_LEARNER, "POST"),
    "teams.join": Route(lambda w, x: f"/assignments/{TEAM_KEY}/teams/{x['team_id']}/join", TEAM_LEARNER, "POST"),
    "teams.leave": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team/leave", TEAM_LEARNER, "POST"),
    "teams.save_work": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team/work", TEAM_LEARNER, "POST"),
    "teams.remove_file": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team/work/attachments/{x['team_file_id']}/remove",
                               TEAM_LEARNER, "POST"),
    "teams.rate": Route(lambda w, x: f"/assignments/{TEAM_KEY}/team/ratings", TEAM_LEARNER, "POST"),
    "teams.file": Route(lambda w, x: f"/teams/{x['team_id']}/files/{x['team_file_id']}", COHORT_FILE),
    "teams.cohort": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams", COHORT_STAFF),
    "teams.manage": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/assignments/{TEAM_KEY}/teams", COHORT_STAFF),
    "teams.staff_create": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/assignments/{TEAM_KEY}/teams", COHORT_STAFF, "POST"),
    "teams.rename": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}/rename", COHORT_STAFF, "POST"),
    "teams.add": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}/members", COHORT_STAFF, "POST"),
    "teams.remove": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}/members/{x['teammate_id']}/remove",
                          COHORT_STAFF, "POST"),
    "teams.dissolve": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}/dissolve", COHORT_STAFF, "POST"),
    "teams.detail": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}", COHORT_STAFF),
    "teams.adjust": Route(lambda w, x: f"/cohorts/{w.cohort_a.id}/teams/{x['team_id']}/members/{x['teammate_id']}/adjustment",
                          COHORT_STAFF, "POST"),
    # API tokens: each person's own; an organization's for its admins (another person's token: not found)
    "api.personal": Route(lambda w, x: "/account/api-tokens", SIGNED_IN),
    "api.revoke_personal": Route(lambda w, x: f"/account/api-tokens/{x['api_token_id']}/revoke",
                                 expect("missing", anonymous="login", learner="ok"), "POST"),
    "api.organization": Route(lambda w, x: f"/organizations/{w.org_a.id}/api-tokens", ORG_ADMIN),
    "api.revoke_organization": Route(lambda w, x: f"/organizations/{w.org_a.id}/api-tokens/{x['org_api_token_id']}/revoke",
                                     ORG_ADMIN, "POST"),
    # the REST API: its document is public; a session is no API credential (401 for everyone:
    # API_ROUTES below tries each route with each role's token)
    **{endpoint: Route(route.url, EVERYONE if endpoint in API_PUBLIC else expect(401), route.method, route.data)
       for endpoint, route in API_ROUTES.items()},
}


def endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if not rule.endpoint.endswith("static")}


def test_every_route_is_in_the_table(app: Flask) -> None:
    assert endpoints(app) == set(ROUTES), "add every new route to ROUTES with its expected answers"


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    assert [e for e in endpoints(app) if rule_for(app, e) is None] == []


def verdict(response: Any, method: str) -> str | int:
    status = response.status_code
    if status == 302 and "/login?next=" in response.headers["Location"]:
        return "login"
    if status == 403:
        return "forbid"
    if status == 404:
        return "missing"
    if status in (200, 302) or (method == "POST" and status == 400):
        return "ok"
    return status


def route_extras(app: Flask, world: World) -> dict[str, Any]:
    """The rows the ROUTES' URLs point at (an import, invitations, an attempt, files, reviews, ...), committed."""
    extra: dict[str, Any] = {"import_id": preview_import(db.session, world.cohort_a, "l.csv", b"email,name\nz@example.com,Zed\n", world.org_admin_a).record.id}
    for key, email in (("invitation_id", "invited@example.com"), ("withdrawn_invitation_id", "withdrawn@example.com")):
        extra[key] = invite_learner(db.session, world.cohort_a, email, "", world.org_admin_a, lambda t: t).id
    extra["admin_invitation_id"] = invite_organization_admin(db.session, world.org_a, "invited-admin@example.com", "",
                                                             world.admin.id, lambda t: t).id
    # the MLOps quiz opens when its month-6 phase ends: learner A starts it on the day it opens
    mlops_quiz = get_quiz(db.session, "mlops-quiz")
    opening = quiz_window(db.session, mlops_quiz, world.cohort_a, world.learner_a.id, utcnow()).opens_at
    attempt = start_attempt(db.session, mlops_quiz, world.learner_a, opening)
    essay = next(i for i, page in enumerate(page_views(db.session, attempt)) if page.parts[0].kind == "essay")
    save_page(db.session, attempt, essay, MultiDict({f"p{essay}": "An answer to grade."}), opening)
    extra["attempt_id"] = attempt.id
    work = start_submission(db.session, get_assignment(db.session, "cs-hands-on-own-operation"), world.learner_a.id, world.cohort_a.id, utcnow())
    work_dates = dates_for(work.assignment, build_schedule(db.session, world.cohort_a, world.learner_a.id, utcnow()))
    extra["attachment_id"] = add_attachment(db.session, work, "plan.txt", b"plan", work_dates, Path(app.instance_path) / "uploads", utcnow()).id
    submit(db.session, work, work_dates, utcnow())
    extra["submission_id"] = work.id
    # A classmate's submission with a file, for learner A to review.
    classmate = enrol(db.session, world.cohort_a, create_user(db.session, "classmate@example.com", "Classmate", "correct-horse-battery")).user
    theirs = start_submission(db.session, work.assignment, classmate.id, world.cohort_a.id, utcnow())
    extra["peer_file_id"] = add_attachment(db.session, theirs, "notes.txt", b"notes", work_dates, Path(app.instance_path) / "uploads", utcnow()).id
    submit(db.session, theirs, work_dates, utcnow())
    extra["review_id"] = reviews_to_do(db.session, work.assignment, world.learner_a, utcnow())[0].id
    # the classmate's month-1 case study with a file, released, in their foundation portfolio handed in for review
    case = start_submission(db.session, get_assignment(db.session, "mlops-case-coldwatch"), classmate.id, world.cohort_a.id, utcnow())
    case_dates = dates_for(case.assignment, build_schedule(db.session, world.cohort_a, classmate.id, utcnow()))
    case.draft_body = "The classmate's analysis"
    extra["piece_file_id"] = add_attachment(db.session, case, "uptime.csv", b"month,uptime\n", case_dates,
                                            Path(app.instance_path) / "uploads", utcnow()).id
    submit(db.session, case, case_dates, utcnow())
    case.status = SubmissionStatus.RELEASED
    foundation = db.session.scalar(select(Level).where(Level.key == "foundation"))
    folder = portfolio_for(db.session, classmate.id, foundation, utcnow())
    review_of = review_assignment(db.session, foundation)
    assert review_of is not None
    folder.artifact_ids = [case.id]
    folder.reflections = {o.key: "Learnt." for o in review_of.objectives}
    db.session.flush()
    extra["portfolio_review_id"] = submit_for_review(db.session, folder, classmate, eligible_work(db.session, classmate.id, foundation),
                                                     utcnow(), dates_for(review_of, build_schedule(db.session, world.cohort_a, classmate.id,
                                                                                                   utcnow()))).id
    extra["piece_id"] = case.id
    extra["response_id"] = db.session.scalar(select(Response.id).where(Response.attempt_id == attempt.id))
    extra["feedback_invite_id"] = invite_stakeholder(db.session, world.learner_a, db.session.scalar(select(Module).where(Module.key == "mlops")),
                                                     "Dana Client", "dana@client.example", "customer", utcnow(), lambda t: t)[0].id
    extra["expert_invite_id"] = invite_expert(db.session, work, world.learner_a, "Erin Expert", "erin@expert.example", "",
                                              utcnow(), lambda t: t)[0].id
    # learner A's run of the MLOps simulation (its month-6 phase is open in cohort A)
    extra["simulation_run_id"] = start_run(db.session, get_simulation(db.session, "mlops-2am-outage"), world.learner_a, utcnow()).id
    # learner A (with early access to the month-9 team project) and the classmate form a team that hands in a file
    team_work = get_assignment(db.session, TEAM_KEY)
    grant_override(db.session, world.cohort_a, world.learner_a, team_work.phase_id, "early_access", utcnow().date(), "", world.org_admin_a)
    team = create_team(db.session, team_work, world.cohort_a.id, "Access team", world.learner_a, utcnow(), as_learner=True)
    add_member(db.session, team, classmate, utcnow())
    team_dates = dates_for(team_work, build_schedule(db.session, world.cohort_a, world.learner_a.id, utcnow()))
    save_team_work(db.session, team, world.learner_a.id, team.draft_revision, "Our plan", Upload("plan.txt", b"plan"), True,
                   team_dates, Path(app.instance_path) / "uploads", utcnow())
    extra["team_id"], extra["teammate_id"] = team.id, classmate.id
    extra["team_file_id"] = team.submission.current_attachments[0].id
    # a notification of learner A's (opened and read by them alone)
    extra["notification_id"] = notify(db.session, user_id=world.learner_a.id, event=NotificationEvent.MESSAGE, key="access",
                                      title="Hello", link="/home").id
    # an announcement learner A sees, another for the staff to delete; learner A's thread in
    # cohort A's MLOps discussions, with the instructor's reply
    for key in ("announcement_id", "doomed_announcement_id"):
        extra[key] = post_announcement(db.session, world.cohort_a, world.instructor_a, "Welcome", "Hello **all**.",
                                       None, utcnow(), lambda a: "/announcements").id
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    thread = start_thread(db.session, world.cohort_a, mlops, world.learner_a, "Drift alerts", "How often?", utcnow(),
                          lambda p: "/")
    extra["thread_id"] = thread.id
    extra["post_id"] = db.session.scalar(select(Post.id).where(Post.thread_id == thread.id, Post.opening.is_(True)))
    extra["reply_id"] = reply_in_thread(db.session, thread, world.instructor_a, "Daily.", utcnow(), lambda p: "/").id
    # instructor A's message to learner A, opening a conversation, and learner A's reply
    conversation = open_conversations(db.session, world.cohort_a, world.instructor_a, [world.learner_a], "Your case study",
                                      "Hand it in **by Friday**.", "access-message", utcnow())[world.learner_a.id]
    reply_in_conversation(db.session, conversation, world.learner_a, "I will.", utcnow(), lambda c: "/inbox")
    extra["conversation_id"] = conversation.id
    # a browser learner A asked two-factor sign-in to remember (only they may forget it)
    extra["device_id"] = db.session.scalar(select(RememberedDevice.id).where(
        RememberedDevice.token_hash == hash_token(remember_device(db.session, world.learner_a, "Phone"))))
    # organization A's webhook endpoint (nothing listens there: a delivery fails at once) and a delivery to it
    endpoint, _secret = create_endpoint(db.session, world.org_a.id, "http://127.0.0.1:9/hook", ["grade.released"], "",
                                        app.config["SECRET_KEY"], world.org_admin_a.id, True)
    extra["webhook_id"] = endpoint.id
    extra["delivery_id"] = queue_event(db.session, [endpoint], WebhookEvent.GRADE_RELEASED, "access", {}, utcnow())[0].id
    # an export instructor A asked for, made and kept in the upload directory
    exported = Path(app.instance_path) / "uploads" / "exports" / "access.csv"
    exported.parent.mkdir(parents=True, exist_ok=True)
    exported.write_text("learner\n")
    job = Job(kind="export", label="Access export", status=JobStatus.DONE, requested_by_id=world.instructor_a.id,
              file_path="exports/access.csv", file_name="access.csv", file_type="text/csv")
    db.session.add(job)
    db.session.flush()
    extra["job_id"] = job.id
    extra["sign_in_id"] = int(begin_sign_in(db.session, world.learner_a, remembered=True, lifetime=timedelta(days=30),
                                            user_agent="Firefox/120.0 (X11; Linux)", address="203.0.113.9",
                                            now=utcnow()).partition(".")[0])
    # a personal API token of learner A's and an organization token of organization A's
    extra["api_token_id"] = create_api_token(db.session, world.learner_a, "Mine", ["read:curriculum"], None).token.id
    extra["org_api_token_id"] = create_api_token(db.session, world.org_admin_a, "HR", ["read:people"], None, world.org_a).token.id
    lti_platform = LtiPlatform(name="Access Moodle", issuer="https://moodle.example.org", client_id="access",
                               auth_login_url="https://moodle.example.org/auth", auth_token_url="https://moodle.example.org/token",
                               key_set_url="https://moodle.example.org/jwks")
    db.session.add(lti_platform)
    db.session.flush()
    extra["lti_platform_id"] = lti_platform.id
    extra["lti_context_id"] = map_lti_context(db.session, lti_platform, "course-1", world.cohort_a).id
    # learner A's certificate of the foundation level and the Open Badges 3.0 issuer's key
    certificate = Certificate(user_id=world.learner_a.id, level=db.session.scalar(select(Level).where(Level.key == "foundation")),
                              code="access-certificate", issued_at=utcnow(), holder_name=world.learner_a.name)
    db.session.add(certificate)
    ensure_badge_key(db.session, app.config["SECRET_KEY"])
    extra["certificate_code"] = certificate.code
    db.session.commit()
    return extra


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_declared_answer(app: Flask, client, loaded, world: World, login, role: str) -> None:
    extra = route_extras(app, world)
    # As in production: admins and organization admins pass two-factor sign-in (the login
    # fixture sets it up for them through its pages, then signs in with a code).
    app.config["TWO_FACTOR_REQUIRED"] = True
    if role != "anonymous":
        login(client, getattr(world, USER_OF_ROLE[role]))
    wrong = []
    # Sign-out last, so every other route is tried while signed in.
    for endpoint, route in sorted(ROUTES.items(), key=lambda item: item[0] == "accounts.logout"):
        url = route.url(world, extra)
        response = client.open(url, method=route.method, data=route.data)
        expected = route.expected[role]
        got = verdict(response, route.method)
        if isinstance(expected, int):
            got = response.status_code
        if got != expected:
            wrong.append(f"{route.method} {url} ({endpoint}): expected {expected}, got {got} [{response.status_code}]")
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("listed", ["learner_b", "instructor_b", "org_admin_b", "admin", "nobody"])
def test_import_gives_no_access_to_another_organizations_account_until_it_accepts(
        app: Flask, client, world: World, login, listed: str) -> None:
    """Listing somebody's address in a CSV import does not make them a learner of the
    cohort: the importing organization's staff get none of their pages, and they keep
    exactly their roles, until they accept the invitation themselves."""
    person = getattr(world, listed)
    record = preview_import(db.session, world.cohort_a, "l.csv", f"email,name\n{person.email},Listed\n".encode(), world.org_admin_a).record
    db.session.commit()
    assert record.rows[0]["problem"] is None
    login(client, world.org_admin_a)
    assert client.post(f"/cohorts/{world.cohort_a.id}/import/{record.id}", data={}).status_code == 302
    for url in (f"/cohorts/{world.cohort_a.id}/learners/{person.id}", f"/cohorts/{world.cohort_a.id}/learners/{person.id}/progress",
                f"/cohorts/{world.cohort_a.id}/learners/{person.id}/feedback"):
        assert client.get(url).status_code == 404, url
    client.post("/logout")
    login(client, person)
    for url in ("/schedule", "/progress"):
        assert client.get(url).status_code == (200 if listed == "learner_b" else 403), url
    assert client.get(f"/cohorts/{world.cohort_a.id}").status_code == (200 if listed == "admin" else 404)

def test_a_former_learner_of_organization_a_is_not_told_its_cohorts_exist(app: Flask, client, loaded, world: World, login) -> None:
    """Organization B's admin was once a learner of cohort A (the enrolment ended): they belong
    to organization A no more, so its cohort and organization pages answer them 404, as an id
    that does not exist does (a 403 told them which ids are A's cohorts)."""
    extra = route_extras(app, world)
    enrol(db.session, world.cohort_a, world.org_admin_b)
    end_enrolment(db.session, world.org_admin_b, world.cohort_a, "left")
    db.session.commit()
    app.config["TWO_FACTOR_REQUIRED"] = True
    login(client, world.org_admin_b)
    missing_cohort, missing_org = world.cohort_a.id + 10_000, world.org_a.id + 10_000
    wrong, tried = [], 0
    for endpoint, route in sorted(ROUTES.items()):
        url = route.url(world, extra)
        if route.expected["org_admin_other_org"] != "missing" or not url.startswith(
                (f"/cohorts/{world.cohort_a.id}", f"/organizations/{world.org_a.id}")):
            continue
        tried += 1
        elsewhere = url.replace(f"/cohorts/{world.cohort_a.id}", f"/cohorts/{missing_cohort}", 1).replace(
            f"/organizations/{world.org_a.id}", f"/organizations/{missing_org}", 1)
        answers = [client.open(u, method=route.method, data=route.data).status_code for u in (url, elsewhere)]
        if answers != [404, 404]:
            wrong.append(f"{route.method} {url} ({endpoint}): {answers[0]}, and {answers[1]} for an id that does not exist")
    assert tried > 40 and wrong == [], "\n".join(wrong)


def test_a_former_learner_keeps_their_own_pages_read_only(app: Flask, client, loaded, world: World, login) -> None:
    """Learner A's enrolment ended: the pages ``LEARNER_OR_FORMER`` keeps for them answer
    (certificates, progress, the portfolio and its shared link's switch); saving or handing
    in the portfolio, and the other learners' pages, are refused."""
    extra = route_extras(app, world)
    end_enrolment(db.session, world.learner_a, world.cohort_a, "Program finished")
    db.session.commit()
    login(client, world.learner_a)
    kept = sorted(e for e in ROUTES if rule_for(app, e) is LEARNER_OR_FORMER)
    assert {"certificates.mine", "progress.overview", "portfolio.levels", "portfolio.portfolio", "portfolio.share",
            "portfolio.unshare"} <= set(kept)
    refused = ["portfolio.save", "certificates.check", "learning.schedule", "progress.competency"]
    wrong = []
    for endpoint, want in [(e, "ok") for e in kept] + [(e, "forbid") for e in refused]:
        route = ROUTES[endpoint]
        response = client.open(route.url(world, extra), method=route.method, data=route.data)
        if verdict(response, route.method) != want:
            wrong.append(f"{endpoint}: expected {want}, got {response.status_code}")
    assert wrong == []


def _main_nav(html: str) -> str:
    """The main list of the top navigation (``base.html``'s ``nav-main``)."""
    start = html.index('<ul class="nav-main">')
    return html[start:html.index("</ul>", start)]


def test_a_former_learner_finds_what_they_keep_in_the_navigation(app: Flask, client, loaded, world: World, login) -> None:
    """A former learner's certificates, portfolio and progress stayed theirs to open, but the
    top navigation linked none of them (its learner links are for current learners): they
    had to know the addresses. The navigation now links what they keep, on a safe request
    (the flags read with the user) and after a form sent (one statement), and nothing a
    former learner may not open."""
    end_enrolment(db.session, world.learner_a, world.cohort_a, "Program finished")
    db.session.commit()
    login(client, world.learner_a)
    kept = ('href="/certificates"', 'href="/portfolio"', 'href="/progress"')
    for response in (client.get("/"), client.post("/account", data={})):
        nav = _main_nav(response.get_data(as_text=True))
        assert all(link in nav for link in kept), nav
        assert ">Schedule<" not in nav and ">KPIs<" not in nav and "Stakeholder feedback" not in nav
    other = app.test_client()
    login(other, world.nobody)  # never enrolled: none of them
    nav = _main_nav(other.get("/").get_data(as_text=True))
    assert not any(link in nav for link in kept)


def test_a_learners_navigation_links_the_simulations(app: Flask, client, loaded, world: World, login) -> None:
    """The learner's main navigation listed the course's other areas but not its simulations
    (their index page was there, unlinked). It links them for a learner, on a safe request
    and after a form sent, marked as the current page there; staff who do not learn
    (they have each cohort's simulations page) and a former learner are not sent there."""
    login(client, world.learner_a)
    link = '<li><a href="/simulations">Simulations</a></li>'
    for response in (client.get("/"), client.post("/account", data={})):
        assert link in _main_nav(response.get_data(as_text=True))
    assert '<a href="/simulations" aria-current="page">Simulations</a>' in _main_nav(client.get("/simulations").get_data(as_text=True))
    staff = app.test_client()
    login(staff, world.instructor_a)
    assert 'href="/simulations"' not in _main_nav(staff.get("/").get_data(as_text=True))
    end_enrolment(db.session, world.learner_a, world.cohort_a, "Program finished")
    db.session.commit()
    assert 'href="/simulations"' not in _main_nav(client.get("/").get_data(as_text=True))


# --------------------------------------------------------------------------- the REST API with tokens

ALL_SCOPES = [s.value for s in Scope]


def token_verdict(response: Any) -> str | int:
    status = response.status_code
    return {200: "ok", 201: "ok", 403: "forbid", 404: "missing"}.get(status, status)


def try_api(client: Any, world: World, secret: str | None, expected: Callable[[str, Route], Any]) -> list[str]:
    wrong = []
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    for endpoint, route in API_ROUTES.items():
        url = route.url(world, {})
        response = client.open(url, method=route.method, json=route.data if route.method == "POST" else None, headers=headers)
        want, got = expected(endpoint, route), token_verdict(response)
        if got != want:
            wrong.append(f"{route.method} {url} ({endpoint}): expected {want}, got {got} [{response.status_code}]")
        elif response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (url, response.mimetype)
            assert response.json["detail"], url
    return wrong


def test_every_api_route_is_in_the_token_table(app: Flask) -> None:
    assert {e for e in endpoints(app) if e.startswith("api_v1.")} == set(API_ROUTES)


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_token_gets_what_the_role_sees(app: Flask, client, loaded, world: World, role: str) -> None:
    secret = None
    if role != "anonymous":
        secret = create_api_token(db.session, getattr(world, USER_OF_ROLE[role]), role, ALL_SCOPES, None).secret
        db.session.commit()
    wrong = try_api(client, world, secret, lambda endpoint, route: route.expected[role])
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def test_another_organizations_token_finds_nothing_of_organization_a(app: Flask, client, loaded, world: World) -> None:
    """Organization B's token (made by its admin) and a site admin's token for organization B:
    organization A's cohorts do not exist for them; lists show organization B's rows only."""
    for owner in (world.org_admin_b, world.admin):
        secret = create_api_token(db.session, owner, "B", ALL_SCOPES, None, world.org_b).secret
        db.session.commit()
        wrong = try_api(client, world, secret, lambda endpoint, route: "forbid" if endpoint in API_ME else (
            "ok" if route.expected["org_admin"] == "ok" and (
                endpoint in API_PUBLIC or "cohort_id" not in next(app.url_map.iter_rules(endpoint)).rule) else "missing"))
        assert wrong == [], "\n".join(wrong)
        headers = {"Authorization": f"Bearer {secret}"}
        assert {c["organization_id"] for c in client.get("/api/v1/cohorts", headers=headers).json["data"]} == {world.org_b.id}
        assert [o["id"] for o in client.get("/api/v1/organizations", headers=headers).json["data"]] == [world.org_b.id]


def test_a_token_without_the_scope_is_forbidden(app: Flask, client, loaded, world: World) -> None:
    secret = create_api_token(db.session, world.org_admin_a, "curriculum only", ["read:curriculum"], None).secret
    db.session.commit()
    allowed = {"api_v1.openapi", "api_v1.docs", "api_v1.levels", "api_v1.modules", "api_v1.objectives", "api_v1.metrics"}
    wrong = try_api(client, world, secret, lambda endpoint, route: "ok" if endpoint in allowed else "forbid")
    assert wrong == []
    answer = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", headers={"Authorization": f"Bearer {secret}"})
    assert "read:grades" in answer.json["detail"]


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "owner_deactivated", "no_longer_admin"])
def test_a_dead_token_opens_nothing(app: Flask, client, loaded, world: World, state: str) -> None:
    made = create_api_token(db.session, world.org_admin_a, "HR", ALL_SCOPES, None, world.org_a)
    secret = made.secret
    if state == "revoked":
        made.token.revoked_at = utcnow()
    elif state == "expired":
        made.token.expires_at = utcnow() - timedelta(seconds=1)
    elif state == "unknown":
        secret = secret[:-4] + "AAAA"
    elif state == "owner_deactivated":
        world.org_admin_a.deactivated_at = utcnow()
    else:
        world.org_a.admins.remove(world.org_admin_a)
    db.session.commit()
    want = "forbid" if state == "no_longer_admin" else 401
    wrong = try_api(client, world, secret, lambda endpoint, route: "ok" if endpoint in API_PUBLIC else want)
    assert wrong == []


def test_me_is_always_the_tokens_owner(app: Flask, client, load_content, world: World) -> None:
    """Learner A's rows on the "me" endpoints: their own token lists them; every other
    role's personal token lists only its owner's rows, never learner A's."""
    from tests.test_api_me import ME_LISTS, give_own_data

    load_content()
    own = give_own_data(world.learner_a, world.cohort_a, grader=world.instructor_a)
    for role in ROLES[1:]:
        owner = getattr(world, USER_OF_ROLE[role])
        headers = {"Authorization": f"Bearer {create_api_token(db.session, owner, role, ALL_SCOPES, None).secret}"}
        db.session.commit()
        assert client.get("/api/v1/me", headers=headers).json["id"] == owner.id, role
        for name in ME_LISTS:
            rows = client.get(f"/api/v1/me/{name}?limit=200", headers=headers).json["data"]
            assert {r["learner_id"] for r in rows} <= {owner.id}, (role, name)
            assert ({r["id"] for r in rows} == own.ids[name]) if owner == world.learner_a else not rows, (role, name)

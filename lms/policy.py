"""Who may use each route: the one declarative table. ``create_app`` installs it; a
request to an endpoint missing here is refused, and the access tests compare this table
with the URL map and try every route as every kind of user."""

from __future__ import annotations

from lms.accounts.access import OWN_SIGN_IN
from lms.admin.access import AUDIT_READER
from lms.announcements.access import LEARNER_OF_ANNOUNCEMENT
from lms.api.access import (
    COMPETENCY_OF_COHORT,
    COMPETENCY_OF_LEARNER,
    CURRICULUM,
    ENROL,
    GRADES_OF_COHORT,
    OWN_COMPETENCY,
    OWN_GRADES,
    OWN_PROFILE,
    PEOPLE_OF_COHORT,
    PEOPLE_STAFF,
)
from lms.assessment.access import OWN_ATTEMPT
from lms.cohorts.access import (
    ANONYMOUS,
    COHORT_MANAGER,
    COHORT_STAFF,
    LEARNER,
    LEARNER_OR_FORMER,
    MANAGER_FOR_LEARNER,
    ORG_ADMIN,
    SIGNED_IN,
    SITE_ADMIN,
    STAFF,
    STAFF_FOR_LEARNER,
)
from lms.coursework.access import ATTACHMENT_READER, LEARNER_OF_RELEASED_ASSIGNMENT, RELEASED_ASSIGNMENT
from lms.discussions.access import DISCUSSION_MEMBER, DISCUSSION_STAFF, POST_AUTHOR
from lms.expert.access import EXPERT_INVITE_MANAGER
from lms.grading.access import OWN_PEER_REVIEW
from lms.inbox.access import CONVERSATION_MEMBER
from lms.jobs.access import JOB_REQUESTER
from lms.learning.access import FEED_TOKEN, RELEASED_LESSON
from lms.notifications.access import OWN_NOTIFICATION
from lms.openbadges.access import CERTIFICATE_ADMIN
from lms.simulations.access import OWN_RUN
from lms.teams.access import TEAM_FILE
from lms.twofactor.access import SIGNED_IN_OR_ENROLLING
from lms.web.access import PUBLIC, AccessRule

POLICY: dict[str, AccessRule] = {
    # the shell
    "web.health": PUBLIC,
    "web.accessibility": PUBLIC,
    # the catalog: the program is public, lessons follow the cohort's schedule
    "catalog.program": PUBLIC,
    "web.favicon": PUBLIC,
    "catalog.level": PUBLIC,
    "catalog.module": PUBLIC,
    "catalog.objectives": PUBLIC,
    "catalog.lesson": RELEASED_LESSON,
    # templates: every signed-in user, learners of any cohort and staff alike
    "resources.library": SIGNED_IN,
    "resources.template": SIGNED_IN,
    "resources.download": SIGNED_IN,
    # search: for people signed in (anonymous visitors are sent to sign in; the public
    # catalog pages are there to browse); results are filtered to what the user may read,
    # locked lessons listed by title and opening date only, learners for staff of their cohorts
    "search.search": SIGNED_IN,
    # accounts
    "accounts.login": ANONYMOUS,
    "accounts.logout": SIGNED_IN,
    "accounts.account": SIGNED_IN,
    "accounts.end_sign_in": OWN_SIGN_IN,          # one of the person's own sign-ins (the account page's list)
    "accounts.end_other_sign_ins": SIGNED_IN,
    "accounts.forgot_password": ANONYMOUS,
    "accounts.reset_password": ANONYMOUS,
    "accounts.unlock": ANONYMOUS,
    # two-factor sign-in (lms.twofactor): the code step and set-up before signing in completes
    "twofactor.challenge": ANONYMOUS,
    "twofactor.cancel": ANONYMOUS,
    "twofactor.setup": SIGNED_IN_OR_ENROLLING,
    "twofactor.disable": SIGNED_IN,
    "twofactor.new_codes": SIGNED_IN,
    "twofactor.forget_device": SIGNED_IN,
    "twofactor.organization_policy": ORG_ADMIN,
    "twofactor.admin_reset": SITE_ADMIN,
    # single sign-on (lms.sso): organization admins configure it, the sign-in steps are for anyone
    "sso.settings": ORG_ADMIN,
    "sso.start": ANONYMOUS,
    "sso.begin": ANONYMOUS,
    "sso.callback": ANONYMOUS,
    "sso.confirm": ANONYMOUS,
    # LTI 1.3 tool (lms.lti): the platform's calls are public (a launch is checked by its signed
    # id_token, state and nonce); deep linking is for the instructor it signed in; site admins register platforms
    "lti.jwks": PUBLIC,
    "lti.login": PUBLIC,
    "lti.launch": PUBLIC,
    "lti.deep_link": SIGNED_IN,
    "lti.platforms": SITE_ADMIN,
    "lti.platform": SITE_ADMIN,
    "lti.map_context": SITE_ADMIN,
    "lti.sync_roster": SITE_ADMIN,
    "lti.retry_scores": SITE_ADMIN,
    "lti.configuration": SITE_ADMIN,
    # site administration
    "cohorts.organizations": SITE_ADMIN,
    "cohorts.organization_admin": SITE_ADMIN,
    "cohorts.remove_organization_admin": SITE_ADMIN,
    "cohorts.withdraw_admin_invitation": SITE_ADMIN,
    # the admin console (lms.admin) and the audit log: organization admins read their organizations' entries
    "admin.users": SITE_ADMIN,
    "admin.user": SITE_ADMIN,
    "admin.deactivate": SITE_ADMIN,
    "admin.reactivate": SITE_ADMIN,
    "admin.end_sessions": SITE_ADMIN,
    "admin.send_reset_link": SITE_ADMIN,
    "admin.audit": AUDIT_READER,
    "admin.audit_export": AUDIT_READER,
    # mail that could not be delivered, and retrying it
    "mail.outbox": SITE_ADMIN,
    "mail.retry": SITE_ADMIN,
    "mail.retry_failed": SITE_ADMIN,
    # background jobs (lms.jobs): the site admin's list and retry; a job's page and file are
    # its requester's; a cohort's large export is asked for by its staff
    "jobs.board": SITE_ADMIN,
    "jobs.retry": SITE_ADMIN,
    "jobs.run_now": SITE_ADMIN,
    "jobs.job": JOB_REQUESTER,
    "jobs.download": JOB_REQUESTER,
    "jobs.cohort_export": COHORT_STAFF,
    "jobs.organization_export": ORG_ADMIN,
    # organizations and cohorts
    "cohorts.organization": ORG_ADMIN,
    "cohorts.organization_admins": ORG_ADMIN,
    "cohorts.new_cohort": ORG_ADMIN,
    "cohorts.cohort": COHORT_STAFF,
    "cohorts.edit_cohort": COHORT_MANAGER,
    "cohorts.archive_cohort": COHORT_MANAGER,
    "cohorts.invite": COHORT_MANAGER,
    "cohorts.invite_instructor": COHORT_MANAGER,
    "cohorts.resend_invitation": COHORT_MANAGER,
    "cohorts.withdraw_invitation": COHORT_MANAGER,
    "cohorts.import_learners": COHORT_MANAGER,
    "cohorts.import_preview": COHORT_MANAGER,
    "cohorts.confirm_import": COHORT_MANAGER,
    "cohorts.move_learner": MANAGER_FOR_LEARNER,
    "cohorts.end_enrolment": MANAGER_FOR_LEARNER,
    "cohorts.accept_invitation": ANONYMOUS,
    # learning
    "learning.home": SIGNED_IN,
    "learning.schedule": LEARNER,
    "learning.calendar_link": LEARNER,
    "learning.revoke_calendar_link": LEARNER,
    "learning.calendar_feed": FEED_TOKEN,
    # the teaching calendar: staff make and turn off a private feed of their cohorts' deadlines
    "today.teaching_calendar": STAFF,
    "today.teaching_calendar_link": STAFF,
    "today.revoke_teaching_calendar_link": STAFF,
    "today.teaching_calendar_feed": FEED_TOKEN,
    "learning.learner": STAFF_FOR_LEARNER,
    "learning.grant_override": STAFF_FOR_LEARNER,
    "learning.remove_extension": STAFF_FOR_LEARNER,
    "learning.set_pace": MANAGER_FOR_LEARNER,
    "learning.set_time_allowance": STAFF_FOR_LEARNER,
    # quizzes and exams
    "assessment.quizzes": SIGNED_IN,
    "assessment.quiz": SIGNED_IN,
    "assessment.start": LEARNER,
    "assessment.page": OWN_ATTEMPT,
    "assessment.save": OWN_ATTEMPT,
    "assessment.review": OWN_ATTEMPT,
    "assessment.submit": OWN_ATTEMPT,
    "assessment.result": OWN_ATTEMPT,
    "assessment.statistics": COHORT_STAFF,
    "assessment.withdraw_item": COHORT_STAFF,
    "assessment.grade": COHORT_STAFF,
    "assessment.essay_queue": STAFF,
    # assessed work
    "coursework.assignments": SIGNED_IN,
    "coursework.assignment": RELEASED_ASSIGNMENT,
    "coursework.work": LEARNER_OF_RELEASED_ASSIGNMENT,
    "coursework.save_work": LEARNER_OF_RELEASED_ASSIGNMENT,
    "coursework.remove_attachment": LEARNER_OF_RELEASED_ASSIGNMENT,
    "coursework.attachment": ATTACHMENT_READER,
    # grading
    "grading.queue": STAFF,
    "grading.grade": COHORT_STAFF,
    "grading.save": COHORT_STAFF,
    "grading.feedback": LEARNER_OF_RELEASED_ASSIGNMENT,
    "grading.export": COHORT_STAFF,
    "grading.peer_reviews": LEARNER_OF_RELEASED_ASSIGNMENT,
    "grading.request_reviews": LEARNER_OF_RELEASED_ASSIGNMENT,
    "grading.review_one_more": LEARNER_OF_RELEASED_ASSIGNMENT,
    "grading.peer_review": OWN_PEER_REVIEW,
    "grading.save_peer_review": OWN_PEER_REVIEW,
    "grading.peer_review_file": OWN_PEER_REVIEW,
    "grading.reassign_review": COHORT_STAFF,
    "grading.cohort_peer_reviews": COHORT_STAFF,
    "grading.assign_reviewer": COHORT_STAFF,
    # the gradebook: the cohort's staff only (bulk actions refuse learners of other cohorts with a 404)
    "gradebook.page": COHORT_STAFF,
    "gradebook.export": COHORT_STAFF,
    "gradebook.bulk": COHORT_STAFF,
    # the confirmed "Remove extension" of the gradebook (its confirmation page is the bulk action's answer)
    "gradebook.remove_extensions": COHORT_STAFF,
    # the heat map's at-risk list, all ticked, and the message sent to them (the gradebook's message action)
    "gradebook.message_at_risk_form": COHORT_STAFF,
    "gradebook.message_at_risk": COHORT_STAFF,
    # portfolios: the learner's own; a shared link carries its own secret
    # a former learner reads theirs and keeps its link in hand (turn it off, or on); hands in nothing
    "portfolio.levels": LEARNER_OR_FORMER,
    "portfolio.portfolio": LEARNER_OR_FORMER,
    "portfolio.save": LEARNER,
    "portfolio.share": LEARNER_OR_FORMER,
    "portfolio.unshare": LEARNER_OR_FORMER,
    "portfolio.shared": FEED_TOKEN,
    "portfolio.shared_file": FEED_TOKEN,
    "portfolio.piece": COHORT_STAFF,  # a piece of a portfolio handed in to the cohort, for its graders
    "portfolio.piece_file": COHORT_STAFF,
    # certificates: the learner's own list; the certificate and its Open Badge are public by code
    "certificates.mine": LEARNER_OR_FORMER,  # a former learner's certificates stay theirs to find
    "certificates.check": LEARNER,
    "certificates.cohort_certificates": COHORT_MANAGER,  # who in the cohort is certified, for its organization's admins
    "certificates.certificate": PUBLIC,
    "certificates.assertion": PUBLIC,
    "certificates.badge_class": PUBLIC,
    "certificates.badge_image": PUBLIC,
    "certificates.issuer": PUBLIC,
    # Open Badges 3.0 (lms.openbadges): the issuer profile, keys, credentials (by the
    # certificate's secret code), status list and verification are public; revoking is for
    # site admins and the learner's organization admins
    "openbadges.issuer": PUBLIC,
    "openbadges.jwks": PUBLIC,
    "openbadges.credential": PUBLIC,
    "openbadges.credential_json": PUBLIC,
    "openbadges.status_list": PUBLIC,
    "openbadges.verify_page": PUBLIC,
    "openbadges.verify_json": PUBLIC,
    "openbadges.manage": CERTIFICATE_ADMIN,
    # progress: the learner's own pages; lessons are marked read where they can be read
    "progress.overview": LEARNER_OR_FORMER,  # a former learner's, read-only: where they got to
    "progress.competency": LEARNER,
    "progress.read_lesson": RELEASED_LESSON,
    "progress.learner": STAFF_FOR_LEARNER,
    "progress.rate": STAFF_FOR_LEARNER,
    # business KPIs: the learner's own figures against the program's targets
    "kpi.tracker": LEARNER,
    "kpi.record": LEARNER,
    "kpi.metric": LEARNER,
    # stakeholder feedback: the learner's invitations; the rating link carries its own secret
    "feedback.mine": LEARNER,
    "feedback.create": LEARNER,
    "feedback.revoke": LEARNER,  # the view answers 404 for another learner's invitation
    "feedback.respond": FEED_TOKEN,
    "feedback.answer": FEED_TOKEN,
    "feedback.learner": STAFF_FOR_LEARNER,
    # expert evaluation: the learner for their own work, the cohort's staff for its submissions;
    # the rating link carries its own secret (a bad, used, withdrawn or expired one gets a page saying so)
    "expert.mine": LEARNER_OF_RELEASED_ASSIGNMENT,
    "expert.invite_mine": LEARNER_OF_RELEASED_ASSIGNMENT,
    "expert.submission": COHORT_STAFF,
    "expert.invite_staff": COHORT_STAFF,
    "expert.revoke": EXPERT_INVITE_MANAGER,
    "expert.evaluate": FEED_TOKEN,
    "expert.rate": FEED_TOKEN,
    "expert.file": FEED_TOKEN,
    # branching simulations: the list and pages for everyone signed in, runs for enrolled
    # learners (each run its learner's alone), a cohort's runs for its staff
    "simulations.index": SIGNED_IN,
    "simulations.simulation": SIGNED_IN,
    "simulations.start": LEARNER,
    "simulations.run": OWN_RUN,
    "simulations.choose": OWN_RUN,
    "simulations.cohort": COHORT_STAFF,
    # team projects: learners once the assignment is released (the view answers 404 for
    # another cohort's team), a team's files for its members and staff, teams for cohort staff
    "teams.team": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.create": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.join": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.leave": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.save_work": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.remove_file": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.rate": LEARNER_OF_RELEASED_ASSIGNMENT,
    "teams.file": TEAM_FILE,
    "teams.cohort": COHORT_STAFF,
    "teams.manage": COHORT_STAFF,
    "teams.staff_create": COHORT_STAFF,
    "teams.rename": COHORT_STAFF,
    "teams.add": COHORT_STAFF,
    "teams.remove": COHORT_STAFF,
    "teams.dissolve": COHORT_STAFF,
    "teams.detail": COHORT_STAFF,
    "teams.adjust": COHORT_STAFF,
    # announcements: the cohort's staff post, schedule, edit and delete; its learners read and dismiss them
    "announcements.manage": COHORT_STAFF,
    "announcements.create": COHORT_STAFF,
    "announcements.edit": COHORT_STAFF,
    "announcements.save": COHORT_STAFF,
    "announcements.delete": COHORT_STAFF,
    "announcements.mine": LEARNER,
    "announcements.dismiss": LEARNER_OF_ANNOUNCEMENT,
    # module discussions: a cohort's learners and staff (anybody else, another cohort's learners
    # included, gets 404); moderation for its staff, editing a post for its author
    "discussions.start": SIGNED_IN,
    "discussions.index": DISCUSSION_MEMBER,
    "discussions.module": DISCUSSION_MEMBER,
    "discussions.new_thread": DISCUSSION_MEMBER,
    "discussions.thread": DISCUSSION_MEMBER,
    "discussions.reply": DISCUSSION_MEMBER,
    "discussions.moderate_thread": DISCUSSION_STAFF,
    "discussions.moderate_post": DISCUSSION_STAFF,
    "discussions.edit_post": POST_AUTHOR,
    "discussions.save_post": POST_AUTHOR,
    # the inbox: everyone's own list; a conversation is its learner's and its cohort's staff's
    # (anybody else, the cohort's other learners included, gets 404); web pages only, no API token
    "inbox.index": SIGNED_IN,
    "inbox.conversation": CONVERSATION_MEMBER,
    "inbox.reply": CONVERSATION_MEMBER,
    "inbox.mark_read": CONVERSATION_MEMBER,
    # staff start a conversation with one learner of their cohort (the learner's pages)
    "inbox.new_conversation": STAFF_FOR_LEARNER,
    "inbox.start_conversation": STAFF_FOR_LEARNER,
    # a learner writes to their own cohort's instructors (the cohort is their enrolment's, never named)
    "inbox.new_to_staff": LEARNER,
    "inbox.write_to_staff": LEARNER,
    # cohort competency: the heat map and its exports for the cohort's staff; cohorts side by side for the organization
    "competency.heat_map": COHORT_STAFF,
    "competency.export": COHORT_STAFF,
    "competency.trend": COHORT_STAFF,
    "competency.organization": ORG_ADMIN,
    "competency.organization_export_file": ORG_ADMIN,
    # reviews of an at-risk learner: whoever sees the at-risk list, for the cohort's learners
    "competency.at_risk_learner": STAFF_FOR_LEARNER,
    "competency.review": STAFF_FOR_LEARNER,
    # notifications: each user's own centre and preferences; a notification is its recipient's alone
    "notifications.centre": SIGNED_IN,
    "notifications.open": OWN_NOTIFICATION,
    "notifications.read": OWN_NOTIFICATION,
    "notifications.read_all": SIGNED_IN,
    "notifications.preferences": SIGNED_IN,
    "notifications.save_preferences": SIGNED_IN,
    # data rights: everyone downloads their own data; only site admins erase a learner
    "privacy.data": SIGNED_IN,
    "privacy.export": SIGNED_IN,
    "privacy.erase": SITE_ADMIN,
    # webhooks (lms.webhooks): an organization's admins register endpoints, send them a test event, read the delivery log and
    # redeliver; an endpoint or delivery of another organization is not found
    "webhooks.endpoints": ORG_ADMIN,
    "webhooks.endpoint": ORG_ADMIN,
    "webhooks.toggle": ORG_ADMIN,
    "webhooks.rotate": ORG_ADMIN,
    "webhooks.send_test": ORG_ADMIN,
    "webhooks.redeliver": ORG_ADMIN,
    # the objectives as an IMS CASE 1.0 framework (lms.framework): public, like the catalog
    "framework.documents": PUBLIC,
    "framework.document": PUBLIC,
    "framework.package": PUBLIC,
    "framework.item": PUBLIC,
    # API tokens (lms.api): everyone's personal tokens; an organization's tokens for its admins
    "api.personal": SIGNED_IN,
    "api.revoke_personal": SIGNED_IN,  # the view answers 404 for another person's token
    "api.organization": ORG_ADMIN,
    "api.revoke_organization": ORG_ADMIN,
    # the REST API v1: a bearer token (lms/api/auth.py answers 401 before this table); each
    # route needs its scope and what the token's owner may see in the web app; the document is public
    "api_v1.openapi": PUBLIC,
    "api_v1.docs": PUBLIC,
    "api_v1.organizations": PEOPLE_STAFF,
    "api_v1.cohorts": PEOPLE_STAFF,
    "api_v1.cohort": PEOPLE_OF_COHORT,
    "api_v1.learners": PEOPLE_OF_COHORT,
    "api_v1.learner": PEOPLE_OF_COHORT,
    "api_v1.enrolments": PEOPLE_OF_COHORT,
    "api_v1.removed_learners": PEOPLE_OF_COHORT,
    "api_v1.invite": ENROL,
    "api_v1.levels": CURRICULUM,
    "api_v1.modules": CURRICULUM,
    "api_v1.objectives": CURRICULUM,
    "api_v1.metrics": CURRICULUM,
    "api_v1.cohort_mastery": COMPETENCY_OF_COHORT,
    "api_v1.learner_mastery": COMPETENCY_OF_LEARNER,
    "api_v1.evidence": COMPETENCY_OF_COHORT,
    "api_v1.removed_evidence": COMPETENCY_OF_COHORT,
    "api_v1.removed_mastery": COMPETENCY_OF_COHORT,
    "api_v1.kpi": COMPETENCY_OF_COHORT,
    "api_v1.certificates": COMPETENCY_OF_COHORT,
    "api_v1.quiz_attempts": GRADES_OF_COHORT,
    "api_v1.submissions": GRADES_OF_COHORT,
    "api_v1.grades": GRADES_OF_COHORT,
    "api_v1.removed_grades": GRADES_OF_COHORT,
    "api_v1.removed_submissions": GRADES_OF_COHORT,
    "api_v1.removed_quiz_attempts": GRADES_OF_COHORT,
    # the token owner's own data ("me"): personal tokens of anyone signed in, never another person's rows
    "api_v1.me": OWN_PROFILE,
    "api_v1.my_mastery": OWN_COMPETENCY,
    "api_v1.my_evidence": OWN_COMPETENCY,
    "api_v1.my_certificates": OWN_COMPETENCY,
    "api_v1.my_attempts": OWN_GRADES,
    "api_v1.my_submissions": OWN_GRADES,
    "api_v1.my_grades": OWN_GRADES,
    "api_v1.my_removed_mastery": OWN_COMPETENCY,
    "api_v1.my_removed_evidence": OWN_COMPETENCY,
    "api_v1.my_removed_submissions": OWN_GRADES,
    "api_v1.my_removed_grades": OWN_GRADES,
}

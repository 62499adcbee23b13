"""Builds (or refreshes) the demo organization and gives its twelve learners five months of
real activity: lessons read, quiz attempts answered page by page, case studies and hands-on
work submitted and graded, peer reviews; a team assignment, once reached, is done in teams
(one submission per team, graded once, teammates rating each other). Everything goes through the platform's own
services, so evidence and mastery arrive the way they do for real learners. Flush only."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.accounts.services import create_user, find_user
from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.assessment.questions import part_named
from lms.assessment.services import (
    active_quizzes,
    grade_essay,
    page_versions,
    quiz_window,
    release_month,
    responses_of,
    save_page,
    start_attempt,
    submit_attempt,
)
from lms.catalog.models import Metric
from lms.catalog.services import schedule
from lms.certificates.services import issue_due_in
from lms.cohorts.enrolment import active_enrolment, enrol
from lms.cohorts.models import Cohort, Organization
from lms.cohorts.services import create_organization
from lms.coursework.models import Assignment, AssignmentKind, Submission
from lms.coursework.services import (
    Dates,
    active_assignments,
    dates_for,
    save_draft,
    start_submission,
    submission_for,
    submit,
)
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession, utcnow
from lms.demo.answers import page_form
from lms.expert import services as expert
from lms.grading.models import GradeAction, PeerReviewStatus
from lms.grading.peer import complete_review, reviews_to_do
from lms.grading.services import save_grade
from lms.inbox.services import reply, start_conversation
from lms.inbox.views import link_for
from lms.kpi.services import record_figure
from lms.learning.services import PROGRAM_MONTHS, build_schedule, cohort_today, current_month, month_opens_on, opens_at
from lms.portfolio import services as portfolios
from lms.progress.models import Evidence, LessonRead
from lms.progress.services import mark_read, rate
from lms.simulations.models import Simulation
from lms.simulations.services import SimulationError, active_simulations, choose, overall, start_run
from lms.teams import services as teams

DEMO_PASSWORD = "demo-password-2026"
ORGANIZATION = "Northwind Ventures"
COHORT = "Northwind cohort 1"
INSTRUCTOR_EMAIL = "instructor@demo.lms"
LEARNERS = [
    "Amara Okafor", "Bruno Costa", "Chen Wei", "Dana Levi", "Elif Yilmaz", "Farah Haddad",
    "Gabriel Moreau", "Hana Sato", "Ivan Petrov", "Julia Novak", "Kofi Mensah", "Lucia Romero",
]

Tick = Callable[[int], None]
TEAM_NAMES = ["Harbour", "Meridian", "Northstar", "Tallyweave", "Keystone", "Lighthouse"]


class DemoError(ValueError):
    """Demo data that cannot be generated as asked; nothing was written."""


def _no_tick(_: int) -> None:
    return None


@dataclass(frozen=True)
class Credential:
    role: str
    name: str
    email: str
    password: str


def _person(session: DbSession, email: str, name: str, *, admin: bool = False) -> User:
    user = find_user(session, email)
    if user is None:
        user = create_user(session, email, name, DEMO_PASSWORD, timezone="Europe/London", is_admin=admin)
    return user


def learner_email(number: int) -> str:
    return f"learner{number:02d}@demo.lms"


def demo_organization(session: DbSession) -> Organization:
    return session.scalar(select(Organization).where(Organization.name == ORGANIZATION)) \
        or create_organization(session, ORGANIZATION)


def build_demo(session: DbSession, today: date | None = None) -> list[Credential]:
    """An organization, a cohort that started five months ago, an instructor, an
    organization admin, a site admin and twelve learners. Safe to run again."""
    today = today or utcnow().date()
    org = demo_organization(session)
    cohort = session.scalar(select(Cohort).where(Cohort.organization_id == org.id, Cohort.name == COHORT))
    if cohort is None:
        cohort = Cohort(organization=org, name=COHORT, start_date=today - relativedelta(months=5), timezone="Europe/London")
        session.add(cohort)
    credentials = [
        Credential("site admin", "Sam Admin", "admin@demo.lms", DEMO_PASSWORD),
        Credential("organization admin", "Olivia Grant", "orgadmin@demo.lms", DEMO_PASSWORD),
        Credential("instructor", "Ines Teller", INSTRUCTOR_EMAIL, DEMO_PASSWORD),
    ]
    _person(session, "admin@demo.lms", "Sam Admin", admin=True)
    org_admin = _person(session, "orgadmin@demo.lms", "Olivia Grant")
    if org_admin not in org.admins:
        org.admins.append(org_admin)
    instructor = _person(session, INSTRUCTOR_EMAIL, "Ines Teller")
    if instructor not in cohort.instructors:
        cohort.instructors.append(instructor)
    session.flush()
    for number, name in enumerate(LEARNERS, start=1):
        email = learner_email(number)
        learner = _person(session, email, name)
        if active_enrolment(session, learner.id) is None:  # there from the start: the cohort's dates
            enrol(session, cohort, learner, min(opens_at(cohort, cohort.start_date) - timedelta(days=7), utcnow()))
        credentials.append(Credential("learner", name, email, DEMO_PASSWORD))
    session.flush()
    return credentials


# --------------------------------------------------------------------------- how learners work


@dataclass(frozen=True)
class Profile:
    """How a demo learner works: how well (``ability``, the share of questions right and
    roughly the rubric level reached) and how often (``engagement``, the chance of doing
    each piece of work). A learner who ``fades`` does less with every month."""

    ability: float
    engagement: float
    fades: bool = False
    revises: bool = False  # their first graded piece is returned for revision, then resubmitted
    # their work of the month just ended is handed in and waits for the instructor's grade
    awaits_grades: bool = False

    def does(self, month: int, rng: random.Random) -> bool:
        """Whether they do one optional thing in ``month`` (read a lesson, try again)."""
        chance = self.engagement * (0.75 ** (month - 1) if self.fades else 1.0)
        return rng.random() < chance

    def hands_in(self, month: int, rng: random.Random) -> bool:
        """Whether they do one piece of required work (a lesson, assessed work, a peer review
        they were given): learners on track do all of it, which is what being on track means;
        learners falling behind less and less."""
        return not self.fades or self.does(month, rng)

    def tries_again(self, percent: float, passing: float, rng: random.Random) -> bool:
        """After an attempt: again when it failed, sometimes when it only just passed."""
        if percent < passing:
            return not self.fades or rng.random() < self.engagement
        return percent < passing + 10 and rng.random() < self.engagement / 2


# learner01 is the one to sign in as: active, good, with a revision in her trail. Three
# strong learners (the last month's work of two of them waits in the instructor's queue),
# six in the middle, three falling behind (they show up as at risk).
PROFILES = [
    Profile(0.86, 1.0, revises=True), Profile(0.93, 0.92, awaits_grades=True), Profile(0.88, 0.88, awaits_grades=True),
    Profile(0.78, 0.85), Profile(0.74, 0.8), Profile(0.8, 0.78),
    Profile(0.73, 0.82), Profile(0.76, 0.72), Profile(0.72, 0.78),
    Profile(0.32, 0.7, fades=True), Profile(0.3, 0.55, fades=True), Profile(0.45, 0.75, fades=True),
]


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def rubric_levels(criteria: list[CriterionSpec], skill: float, rng: random.Random) -> dict[str, str | None]:
    """A level per criterion for work of this quality: the better the skill, the higher
    the level, with some spread from criterion to criterion."""
    chosen: dict[str, str | None] = {}
    for criterion in criteria:
        levels = sorted(criterion.levels, key=lambda lv: -lv.points)
        # the quality each level below the top asks for, evenly from 0.85 down to 0.4
        steps = len(levels) - 1
        bars = [0.85 - 0.45 * i / max(1, steps - 1) for i in range(steps)]
        quality = rng.gauss(skill, 0.12)
        chosen[criterion.id] = levels[sum(1 for bar in bars if quality < bar)].id
    return chosen


FEEDBACK = {
    True: ["Clear, well argued and backed by your own numbers. Keep this standard.",
           "Strong work: the diagnosis is sharp and the plan is realistic.",
           "Good judgement throughout; the measured results make the case."],
    False: ["The main ideas are there, but the figures need checking and the plan needs owners and dates.",
            "Start from the evidence: several conclusions are not yet supported by the numbers.",
            "Please revisit the rubric: the plan is too general to act on."],
}
PEER_COMMENTS = [
    "The pipeline map is easy to follow. One thing to improve: say who approves a release.",
    "Good use of real figures. The monitoring plan could name the alert thresholds.",
    "Clear and practical. I would add how you roll back when a release goes wrong.",
    "Well structured. The access audit is thin: list who can deploy today.",
]
ESSAY_COMMENTS = ["A concrete plan with an owner and a check; well done.",
                  "Name who acts when the number moves, and when.",
                  "Too general: give a threshold, an owner and a cost."]


RATING_NOTES = [
    "Did not take part in the session's exercise.",
    "Followed the discussion but could not yet apply it to their own company.",
    "Applied the idea with prompting; the numbers were not yet connected to a decision.",
    "Explained the trade-offs clearly and applied them to their own company.",
    "Led the group's discussion with sound judgement and a concrete, measured plan.",
]


def team_sizes(count: int, low: int, high: int, rng: random.Random) -> list[int]:
    """Sizes of teams (each ``low`` to ``high``) for ``count`` learners taken in order; the
    few left over who cannot make a team of ``low`` stay without one."""
    low = max(low, 1)
    sizes: list[int] = []
    left = count
    while left >= low:
        size = min(rng.randint(low, high), left)
        if 0 < left - size < low:  # do not leave too few for a last team
            size = left if left <= high else left - low
        sizes.append(size)
        left -= size
    return sizes


TEAMMATE_COMMENTS = ["Carried the market research and kept us on schedule.", "Solid share of the work.",
                     "Joined late but made up for it on the risk register.", "Quiet in meetings; the numbers were theirs."]


def teammate_rating(ability: float, rng: random.Random) -> tuple[int, str]:
    """A teammate's rating of a member's contribution (1-5), roughly by how able they are."""
    return max(1, min(5, round(1 + 4 * ability + rng.gauss(0, 0.6)))), rng.choice(TEAMMATE_COMMENTS)


def baseline(metric: Metric, rng: random.Random) -> float:
    """Where a learner's company starts on a metric: well short of the target."""
    if metric.comparison.higher_is_better:  # from zero at worst for changes that can go negative
        return metric.target - (metric.target - max(metric.min_value, 0.0)) * rng.uniform(0.25, 0.5)
    return min(metric.max_value - 1, metric.target * rng.uniform(2, 5) + 1)  # e.g. hours to answer


def work_body(assignment: Assignment, skill: float, rng: random.Random) -> str:
    lines = [f"## {assignment.title}", ""]
    for deliverable in assignment.deliverables or ["My answer"]:
        lines.append(f"### {deliverable}")
        lines.append(rng.choice([
            "We measured this over the last four weeks; the table below gives the figures and the target.",
            "I mapped the current steps with the team and marked where work waits longest.",
            "The owner, the weekly check and the threshold that triggers action are listed here.",
            "This is a first pass; I still need the numbers from our support desk.",
        ]) if skill > 0.5 else "To do: fill this in once we have the numbers.")
        lines.append("")
    return "\n".join(lines)


# A demo learner's reflection on one objective of a level's portfolio, by how strong they
# are: {objective} is the objective ("KO1 (MLOps fundamentals)"), {work} the title of a
# piece they chose that serves it.
REFLECTIONS = {
    True: (
        "{work} is my best evidence for {objective}: I measured where we stood before changing anything, "
        "and the figures since show what moved and what did not.",
        "For {objective} the hard part was agreeing who owns each step. {work} names the owners and the weekly "
        "check, and the team has kept to it for a month.",
        "If I worked on {objective} again I would start from our own data, not the tool. {work} shows the first "
        "version, the feedback and what I changed after it.",
    ),
    False: (
        "I applied {objective} in {work}; the numbers are still incomplete and I need a second month of them.",
        "{work} is where I tried {objective}. It is a first pass: the owners are named but the checks are not "
        "running yet.",
    ),
}


def pick_choice(choices: Sequence[Mapping[str, Any]], skill: float, rng: random.Random) -> int:
    """The option a learner of this skill takes at a simulation's decision point: the one
    that scores best with a chance of ``skill``, otherwise any of the others."""
    def mean(choice: Mapping[str, Any]) -> float:
        points = list(choice["points"].values())
        return sum(points) / len(points) if points else 0.0

    best = max(range(len(choices)), key=lambda i: (mean(choices[i]), -i))
    if rng.random() < skill or len(choices) == 1:
        return best
    return rng.choice([i for i in range(len(choices)) if i != best])


@dataclass(frozen=True)
class Expert:
    """An outside expert the demo learners invite to rate their work; they need no account."""

    name: str
    email: str
    role: str
    organization: str
    years: int
    qualification: str

    @property
    def credentials(self) -> dict[str, Any]:
        return {"role": self.role, "organization": self.organization, "years": self.years,
                "qualification": self.qualification}


EXPERTS = [
    Expert("Priya Raman", "priya.raman@experts.demo.lms", "Head of ML Platform", "Brightfield Analytics", 12,
           "I run model releases, monitoring and on-call for a platform team of eight."),
    Expert("Tomas Lindqvist", "tomas.lindqvist@experts.demo.lms", "VP Customer Success", "Harbour Software", 15,
           "I built and led support and success teams from 5 to 60 people at two SaaS companies."),
    Expert("Ngozi Eze", "ngozi.eze@experts.demo.lms", "Operations consultant", "independent", 9,
           "I redesign operations for small AI companies: process maps, KPIs and the first runbooks."),
]
EXPERT_COMMENTS = {
    True: ["Specific and measured; I would use this at work as it is.",
           "The reasoning holds up against what I see in practice."],
    False: ["The direction is right, but it needs numbers and a named owner.",
            "Too general to act on yet: say what happens first, and who does it."],
}
EXPERT_SUMMARY = {
    True: "Strong, practical work. The **measurements** make the case; next, rehearse the plan once with the team.",
    False: "A fair start. Tie each step to a **measured problem** and name who acts when a number moves.",
}
# The demo has no request to build an absolute link from; the link is used at once anyway.
DEMO_LINK = "http://localhost:5000/e/{}"


# --------------------------------------------------------------------------- the activity

# The share of the weekly checks (practice) the most engaged demo learner takes: a gradebook
# shows some practised and some not, and the demo stays quick to build (each attempt is
# answered page by page through the quiz services).
PRACTISED = 0.5


@dataclass
class ActivityReport:
    learners: int = 0          # learners given activity this run
    already: int = 0           # learners who had activity already (left as they were)
    lessons_read: int = 0
    attempts: int = 0
    submissions: int = 0
    grades: int = 0
    peer_reviews: int = 0
    ratings: int = 0
    kpi_figures: int = 0
    simulation_runs: int = 0
    expert_ratings: int = 0
    teams: int = 0
    team_ratings: int = 0
    months: int = 0
    conversations: int = 0     # inbox conversations started this run (``demo_conversations``)
    notes: list[str] = field(default_factory=list)


def has_activity(session: DbSession, user_ids: list[int]) -> set[int]:
    """The users among ``user_ids`` who already attempted, submitted or read anything."""
    if not user_ids:
        return set()
    found: set[int] = set()
    for model in (Attempt, Submission, LessonRead):
        found |= set(session.scalars(select(model.user_id).where(model.user_id.in_(user_ids)).distinct()))
    return found


class DemoActivity:
    """Plays out the months so far of one cohort for a set of learners, oldest work first
    for each learner, with timestamps spread over the months they happened in."""

    def __init__(self, session: DbSession, cohort: Cohort, instructor: User, now: datetime) -> None:
        self.session, self.cohort, self.instructor, self.now = session, cohort, instructor, now
        self.months = min(current_month(cohort.start_date, cohort_today(cohort, now)) - 1, PROGRAM_MONTHS)
        self.phases = [item for item in schedule(session) if item.phase.month <= self.months]
        self.quizzes = [q for q in active_quizzes(session) if release_month(q) <= self.months]
        # the weekly checks (practice: their evidence counts toward no mastery) of the months played
        self.checks = sorted((q for q in session.scalars(select(Quiz).where(Quiz.kind == QuizKind.CHECK,
                                                                           Quiz.retired_at.is_(None)))
                              if release_month(q) <= self.months), key=lambda q: (release_month(q), q.position))
        self.assignments = [a for a in active_assignments(session) if a.phase.month <= self.months]
        self.simulations = [s for s in active_simulations(session) if s.phase.month <= self.months]
        self.report = ActivityReport(months=max(self.months, 0))
        self.profiles: dict[int, Profile] = {}
        self.released: dict[int, list[tuple[Submission, datetime]]] = defaultdict(list)
        # a team assignment's learners who got round to it: (moment, graded moment, user, profile, dates)
        self.team_work: dict[int, list[tuple[datetime, datetime, User, Profile, Dates]]] = defaultdict(list)

    def latest(self, hours: float = 1) -> datetime:
        return self.now - timedelta(hours=hours)

    def month_start(self, month: int) -> datetime:
        return opens_at(self.cohort, month_opens_on(self.cohort.start_date, month))

    def run(self, learners: list[tuple[User, Profile]], tick: Tick = _no_tick) -> ActivityReport:
        for user, profile in learners:
            self.profiles[user.id] = profile
            rng = random.Random(f"northwind:{user.email}")
            self.lessons(user, profile, rng)
            self.coursework(user, profile, rng)
            self.take_quizzes(user, profile, rng)
            # Their own draws: how many the steps above take depends on the hour the demo is
            # built, and the ratings, figures, simulations and experts should not change with it.
            self.ratings(user, profile, random.Random(f"northwind-ratings:{user.email}"))
            self.kpi_figures(user, profile, random.Random(f"northwind-kpi:{user.email}"))
            self.play_simulations(user, profile, random.Random(f"northwind-simulations:{user.email}"))
            self.expert_rating(user, profile, random.Random(f"northwind-expert:{user.email}"))
            self.practise(user, profile, random.Random(f"northwind-checks:{user.email}"))
            self.report.learners += 1
            tick(1)
        self.teams()
        self.peer_reviews([user for user, _ in learners])
        self.session.flush()
        return self.report

    # ------------------------------------------------------------------ lessons

    def lessons(self, user: User, profile: Profile, rng: random.Random) -> None:
        for item in self.phases:
            start = self.month_start(item.phase.month)
            for lesson in item.lessons:
                if not profile.hands_in(item.phase.month, rng):
                    continue
                at = start + timedelta(days=rng.uniform(0.5, 20), hours=rng.uniform(0, 12))
                if at < self.latest():
                    mark_read(self.session, user.id, lesson, at)
                    self.report.lessons_read += 1

    # ------------------------------------------------------------------ coursework

    def coursework(self, user: User, profile: Profile, rng: random.Random) -> None:
        plan = build_schedule(self.session, self.cohort, user.id, self.now)
        to_revise = profile.revises
        for assignment in self.assignments:
            dates = dates_for(assignment, plan)
            if dates is None or not profile.hands_in(assignment.phase.month, rng):
                continue
            share = rng.uniform(0.7, 1.25) if profile.fades else rng.uniform(0.35, 0.85)
            at = opens_at(self.cohort, dates.opens_on) + timedelta(days=assignment.due_after_days * share,
                                                                   hours=rng.uniform(8, 20))
            if at >= self.latest(24):
                continue  # not got round to it yet
            if assignment.is_team:  # done with teammates, once everyone's months are played (``teams``)
                self.team_work[assignment.id].append((at, at + timedelta(days=rng.uniform(2, 6)), user, profile, dates))
                continue
            body = work_body(assignment, profile.ability, rng)  # drawn for a portfolio too: later draws stay as they were
            submission = (self.portfolio(assignment, user, profile, dates, at) if assignment.kind is AssignmentKind.PORTFOLIO
                          else None) or self.hand_in(assignment, user, body, dates, at)
            graded_at = at + timedelta(days=rng.uniform(2, 6))
            if graded_at >= self.latest():
                continue  # waits in the instructor's queue
            if to_revise:
                to_revise = not self.revise(submission, dates, profile, graded_at, rng)
                continue
            levels = rubric_levels(assignment.rubric.current.criteria, profile.ability, rng)
            feedback = rng.choice(FEEDBACK[profile.ability >= 0.6])
            if profile.awaits_grades and assignment.phase.month == self.months:
                continue  # in the instructor's queue (drawn all the same: their later work stays as it was)
            self.release(submission, levels, feedback, None, graded_at)

    def release(self, submission: Submission, levels: dict[str, str | None], feedback: str, revision: int | None,
                at: datetime) -> None:
        save_grade(self.session, submission, self.instructor, levels, {}, feedback, revision, GradeAction.RELEASE, at)
        self.report.grades += 1
        self.released[submission.user_id].append((submission, at))

    def revise(self, submission: Submission, dates: Dates, profile: Profile, at: datetime, rng: random.Random) -> bool:
        """The instructor returns the work for revision, the learner improves it and hands
        it in again, and the better version is graded. False if there was no time for it."""
        again = at + timedelta(days=rng.uniform(1, 3))
        regraded = again + timedelta(days=rng.uniform(1, 3))
        if regraded >= self.latest():
            return False
        criteria = submission.assignment.rubric.current.criteria
        grade = save_grade(self.session, submission, self.instructor, rubric_levels(criteria, profile.ability - 0.3, rng),
                           {}, FEEDBACK[False][0], None, GradeAction.RETURN, at)
        body = (submission.draft_body + "\n\n### What I changed\n"
                "Checked every figure against the raw data and added owners and dates to the plan.\n")
        save_draft(self.session, submission, body, dates, again - timedelta(hours=2))
        submit(self.session, submission, dates, again)
        self.release(submission, rubric_levels(criteria, profile.ability + 0.05, rng),
                     "Much better: every figure checks out and the plan is ready to use.", grade.revision, regraded)
        return True

    def portfolio(self, assignment: Assignment, user: User, profile: Profile, dates: Dates, at: datetime) -> Submission | None:
        """The level's portfolio as a learner makes it on its page: their work of the level
        whose grade was released by ``at`` chosen, a reflection written for each of the
        review's objectives, then handed in (``lms.portfolio.services``). None when no grade
        of theirs was released yet (the generic hand-in stands in, as before)."""
        level = assignment.rubric.level
        if level is None:
            return None
        rng = random.Random(f"northwind-portfolio:{user.email}:{level.key}")  # its own draws
        released = {s.id for s, when in self.released[user.id] if when <= at}
        work = [s for s in portfolios.eligible_work(self.session, user.id, level) if s.id in released]
        if not work:
            return None
        chosen = [s for s in work if rng.random() < 0.7] or work[:1]
        codes = [o.key for o in assignment.objectives]
        texts = REFLECTIONS[profile.ability >= 0.6]
        reflections = {}
        for objective in assignment.objectives:
            serving = [s for s in chosen if any(o.key == objective.key for o in s.assignment.objectives)] or chosen
            reflections[objective.key] = rng.choice(texts).format(objective=f"{objective.key} ({objective.title})",
                                                                  work=rng.choice(serving).assignment.title)
        kept = portfolios.portfolio_for(self.session, user.id, level, at - timedelta(days=2))
        portfolios.curate(self.session, kept, [s.id for s in chosen], reflections, work, codes, at - timedelta(days=2))
        submission = portfolios.submit_for_review(self.session, kept, user, work, at, dates)
        self.report.submissions += 1
        return submission

    def hand_in(self, assignment: Assignment, user: User, body: str, dates: Dates, at: datetime) -> Submission:
        started = at - timedelta(days=1, hours=3)
        submission = start_submission(self.session, assignment, user.id, self.cohort.id, started)
        save_draft(self.session, submission, body, dates, started + timedelta(hours=1))
        submit(self.session, submission, dates, at)
        self.report.submissions += 1
        return submission

    def teams(self) -> None:
        """Each team assignment: the learners who got round to it form teams (in the order they
        started, sizes within its limits, from a sequence of their own), the last of each team
        hands in the team's work through the teams feature, the instructor grades it once (every
        member gets the grade's evidence) and some teammates rate each other's contribution."""
        for assignment in self.assignments:
            reached = sorted(self.team_work.get(assignment.id, []), key=lambda r: (r[0], r[2].id))
            if not reached:
                continue
            rng = random.Random(f"northwind-teams:{assignment.key}")
            start = 0
            for number, size in enumerate(team_sizes(len(reached), assignment.team_min or 1, assignment.team_max or 1, rng),
                                          start=1):
                members = reached[start:start + size]
                start += size
                self.team(assignment, f"{TEAM_NAMES[(number - 1) % len(TEAM_NAMES)]} {number}", members, rng)

    def team(self, assignment: Assignment, name: str, members: list[tuple[datetime, datetime, User, Profile, Dates]],
             rng: random.Random) -> None:
        first, holder = members[0], members[-1]
        formed = first[0] - timedelta(days=5)
        team = teams.create_team(self.session, assignment, self.cohort.id, name, first[2] if assignment.team_self_formed
                                 else self.instructor, formed, as_learner=assignment.team_self_formed)
        for _, _, user, _, _ in members[int(assignment.team_self_formed):]:
            teams.add_member(self.session, team, user, formed + timedelta(hours=2))
        at, graded_at, user, profile, dates = holder
        ability = sum(m[3].ability for m in members) / len(members)
        teams.save_work(self.session, team, user.id, team.draft_revision, work_body(assignment, ability, rng), None, True,
                        dates, Path(), at)
        self.report.teams += 1
        self.report.submissions += 1
        submission = team.submission
        if submission is None:
            return
        for rater in members:
            scores = {m[2].id: teammate_rating(m[3].ability, rng) for m in members if m is not rater and rng.random() < 0.5}
            rated = at + timedelta(hours=rng.uniform(2, 48))
            if scores and rated < self.latest():
                teams.rate(self.session, team, rater[2].id, {uid: s for uid, (s, _) in scores.items()},
                           {uid: c for uid, (_, c) in scores.items()}, rated)
                self.report.team_ratings += len(scores)
        if graded_at < self.latest():
            self.release(submission, rubric_levels(assignment.rubric.current.criteria, ability, rng),
                         rng.choice(FEEDBACK[ability >= 0.6]), None, graded_at)

    def peer_reviews(self, reviewers: list[User]) -> None:
        for assignment in self.assignments:
            if not assignment.peer_reviews:
                continue
            item_month = assignment.phase.month
            mine = {u.id: submission_for(self.session, assignment, u.id) for u in reviewers}
            handed_in = [s.submitted_at for s in mine.values() if s is not None and s.submitted_at is not None]
            if len(handed_in) < 2:
                continue
            last = max(handed_in)
            for reviewer in reviewers:
                own = mine[reviewer.id]
                profile = self.profiles[reviewer.id]
                rng = random.Random(f"northwind-peer:{assignment.key}:{reviewer.email}")
                at = min(last + timedelta(days=rng.uniform(0.5, 2)), self.latest(rng.uniform(2, 20)))
                if own is None or own.submitted_at is None or at <= own.submitted_at:
                    continue
                for review in reviews_to_do(self.session, assignment, reviewer, at):
                    if review.status != PeerReviewStatus.ASSIGNED or not profile.hands_in(item_month, rng):
                        continue
                    author = self.profiles.get(review.submission.user_id, Profile(0.7, 0.8))
                    levels = rubric_levels(review.rubric_version.criteria, author.ability + 0.05, rng)
                    complete_review(self.session, review, levels, rng.choice(PEER_COMMENTS), at + timedelta(minutes=20))
                    self.report.peer_reviews += 1

    # ------------------------------------------------------------------ ratings and KPIs

    def ratings(self, user: User, profile: Profile, rng: random.Random) -> None:
        """A few instructor ratings from the live sessions, on the objectives of the modules
        taught so far; fewer for learners who seldom turn up."""
        for item in self.phases:
            for objective in item.module.objectives:
                if rng.random() > 0.35 * profile.engagement * (0.6 if profile.fades else 1.0):
                    continue
                at = self.month_start(item.phase.month) + timedelta(days=rng.uniform(5, 26), hours=rng.uniform(9, 17))
                if at >= self.latest():
                    continue
                level = round(4 * clamp(rng.gauss(profile.ability, 0.1)))
                rate(self.session, user.id, objective, level, RATING_NOTES[level], self.instructor.id, at)
                self.report.ratings += 1

    def kpi_figures(self, user: User, profile: Profile, rng: random.Random) -> None:
        """Monthly figures for a few of the metrics of the modules begun so far, from the
        month each module began: most learners move toward the target, learners falling
        behind drift."""
        begun: dict[int, tuple[int, list[Metric]]] = {}
        for item in self.phases:
            begun.setdefault(item.module.id, (item.phase.month, list(item.module.metrics)))
        choices = [(month, metric) for month, metrics in begun.values() for metric in metrics]
        wanted = 1 if profile.fades else (3 if profile.ability >= 0.8 else 2)
        for first, metric in rng.sample(choices, min(wanted, len(choices))):
            start, figures = baseline(metric, rng), 0
            for month in range(first, self.months + 1):
                at = self.month_start(month + 1) + timedelta(days=rng.uniform(0.5, 3))
                if at >= self.latest() or (figures and rng.random() > profile.engagement):
                    continue
                progress = clamp(profile.ability * (month - first + 1) / 5 + rng.gauss(0, 0.04))
                value = start + (metric.target - start) * (progress if not profile.fades else rng.uniform(-0.2, 0.15))
                value = round(min(max(value, metric.min_value), metric.max_value - 0.1), 1)
                period = month_opens_on(self.cohort.start_date, month).replace(day=1)
                record_figure(self.session, user.id, metric, period, value, at)
                figures += 1
                self.report.kpi_figures += 1

    # ------------------------------------------------------------------ simulations and experts

    def play_simulations(self, user: User, profile: Profile, rng: random.Random) -> None:
        """Runs of the branching simulations whose phase has begun, through the real
        services; a learner whose run ended badly sometimes plays it again, a little wiser."""
        for simulation in self.simulations:
            month = simulation.phase.month
            if not profile.does(month, rng):
                continue
            at = self.month_start(month) + timedelta(days=rng.uniform(3, 25), hours=rng.uniform(9, 20))
            skill = profile.ability
            for _ in range(2):
                if at >= self.latest(2) or not self.play(simulation, user, skill, at, rng):
                    break
                at += timedelta(days=rng.uniform(1, 4))
                skill = min(0.97, skill + 0.2)

    def play(self, simulation: Simulation, user: User, skill: float, at: datetime, rng: random.Random) -> bool:
        """One run to its end; True when the learner would want to try again."""
        try:
            run = start_run(self.session, simulation, user, at)
        except SimulationError:
            return False  # not open in this learner's schedule
        while not run.finished:
            at += timedelta(minutes=rng.uniform(2, 6))
            choose(self.session, run, run.node, pick_choice(simulation.spec["nodes"][run.node]["choices"], skill, rng), at)
        self.report.simulation_runs += 1
        return overall(run.scores) < 3 and rng.random() < 0.6

    def expert_rating(self, user: User, profile: Profile, rng: random.Random) -> None:
        """Some learners invite an outside expert to rate one piece of graded work; the
        expert answers the link a few days later, through the real services."""
        released = self.released.get(user.id, [])
        if not released or profile.fades or rng.random() > 0.5:
            return
        submission, graded_at = rng.choice(released)
        invited = graded_at + timedelta(days=rng.uniform(0.5, 3))
        rated = invited + timedelta(days=rng.uniform(1, 6))
        if rated >= self.latest():
            return
        who = rng.choice(EXPERTS)
        _, token = expert.invite(self.session, submission, user, who.name, who.email,
                                 "Thank you for taking the time: I would value a practitioner's view.", invited,
                                 DEMO_LINK.format)
        criteria = submission.assignment.rubric.current.criteria
        good = profile.ability >= 0.6
        expert.rate(self.session, token, who.credentials, rubric_levels(criteria, profile.ability, rng),
                    {c.id: rng.choice(EXPERT_COMMENTS[good]) for c in criteria}, EXPERT_SUMMARY[good], rated)
        self.report.expert_ratings += 1

    # ------------------------------------------------------------------ quizzes

    def first_try(self, quiz: Quiz, user: User, rng: random.Random, low: float, high: float) -> tuple[datetime, datetime]:
        """When ``user`` first tries ``quiz`` (between ``low`` and ``high`` of the way through
        its window, drawn) and the last moment they may (its close, or now, less two hours)."""
        window = quiz_window(self.session, quiz, self.cohort, user.id, self.now)
        last = min(window.closes_at or self.now, self.now) - timedelta(hours=2)
        return window.opens_at + (last - window.opens_at) * rng.uniform(low, high), last

    def take_quizzes(self, user: User, profile: Profile, rng: random.Random) -> None:
        for quiz in self.quizzes:
            if not profile.hands_in(release_month(quiz), rng):
                continue
            at, last = self.first_try(quiz, user, rng, 0.15, 0.5)
            skill = profile.ability
            for _ in range(quiz.attempts_allowed or 3):
                if at >= last:
                    break
                attempt = self.attempt(quiz, user, at, skill, rng)
                self.grade_essays(attempt, profile, rng)
                if not profile.tries_again(100 * (attempt.score or 0) / (attempt.max_score or 1), quiz.passing_score, rng):
                    break
                at += timedelta(days=rng.uniform(1, 6))
                skill = min(0.97, skill + 0.1)

    def practise(self, user: User, profile: Profile, rng: random.Random) -> None:
        """The weekly checks, practice nobody must do: about half of them taken as their
        units come by the most engaged, fewer by the others (those falling behind fewer
        each month); a failed one sometimes once more."""
        for quiz in self.checks:
            month = release_month(quiz)
            if rng.random() >= PRACTISED or not profile.does(month, rng):
                continue
            at, last = self.first_try(quiz, user, rng, 0.05, 0.35)
            if at >= last:
                continue
            attempt = self.attempt(quiz, user, at, profile.ability, rng)
            again = at + timedelta(days=rng.uniform(0.5, 3))
            failed = 100 * (attempt.score or 0) / (attempt.max_score or 1) < quiz.passing_score
            if failed and again < last and (quiz.attempts_allowed or 2) > 1 and profile.does(month, rng):
                self.attempt(quiz, user, again, min(0.97, profile.ability + 0.1), rng)

    def attempt(self, quiz: Quiz, user: User, at: datetime, skill: float, rng: random.Random) -> Attempt:
        attempt = start_attempt(self.session, quiz, user, at, seed=rng.getrandbits(64))
        versions = page_versions(self.session, attempt)
        for index, page in enumerate(attempt.layout):
            if rng.random() < 0.04:
                continue  # left blank
            form = page_form(versions[page["version"]].spec, index, skill, rng)
            save_page(self.session, attempt, index, form, at + timedelta(minutes=index + 1))
        submit_attempt(self.session, attempt, at + timedelta(minutes=len(attempt.layout) + 2))
        self.report.attempts += 1
        return attempt

    def grade_essays(self, attempt: Attempt, profile: Profile, rng: random.Random) -> None:
        if not attempt.pending_manual or attempt.submitted_at is None:
            return
        at = attempt.submitted_at + timedelta(days=rng.uniform(1, 4))
        if at >= self.latest():
            return  # still in the instructor's essay queue
        versions = page_versions(self.session, attempt)
        for response in responses_of(self.session, attempt).values():
            if response.score is not None:
                continue
            spec = versions[response.version_id].spec
            part = part_named(spec, response.part)
            points = round(part.points * clamp(rng.gauss(profile.ability, 0.1)) * 2) / 2
            grade_essay(self.session, response, points, rng.choice(ESSAY_COMMENTS), self.instructor, at)


def demo_activity(session: DbSession, now: datetime | None = None, tick: Tick = _no_tick) -> ActivityReport:
    """Give the twelve demo learners their months of work, unless they already have some.
    Needs ``build_demo`` first and the course loaded; safe to run again."""
    now = now or utcnow()
    org = demo_organization(session)
    cohort = session.scalar(select(Cohort).where(Cohort.organization_id == org.id, Cohort.name == COHORT))
    instructor = find_user(session, INSTRUCTOR_EMAIL)
    if cohort is None or instructor is None:
        return ActivityReport(notes=["The demo cohort does not exist yet; no activity was added."])
    learners = [(user, profile) for number, profile in enumerate(PROFILES, start=1)
                if (user := find_user(session, learner_email(number))) is not None]
    busy = has_activity(session, [user.id for user, _ in learners])
    fresh = [(user, profile) for user, profile in learners if user.id not in busy]
    activity = DemoActivity(session, cohort, instructor, now)
    if fresh and not activity.phases:
        activity.report.notes.append("No course is loaded (run `flask lms load-content`); no activity was added.")
        fresh = []
    report = activity.run(fresh, tick)
    report.already = len(learners) - len(fresh)
    report.conversations = demo_conversations(session, cohort, instructor, now)
    return report


# Inbox conversations: (learner number, when it started, subject, then each message as
# (who wrote it, days before now, body)): "staff" is the instructor. Each is started through
# the inbox's own service (the learner notified as by any staff message), answered through
# its replies (the other side notified), and keyed by fixed one-time tokens: a second run
# finds them and adds nothing.
CONVERSATIONS: list[tuple[int, str, str, list[tuple[str, float, str]]]] = [
    (1, "demo-revision", "Your revised case study", [
        ("staff", 6, "Thanks for revising your case study so quickly. The **risk section** is much stronger now.\n\n"
                     "Could you add one measurable target for the first quarter?"),
        ("learner", 5.5, "Thank you! I will add a target on *first-contact resolution*. Is a percentage fine, or "
                         "should it be a count of tickets?"),
        ("staff", 1, "A percentage is fine, as long as you say what it is measured against. Looking forward to it."),
    ]),
    (10, "demo-catching-up", "Catching up on month 3", [
        ("staff", 4, "I noticed the month 3 quiz and case study are still open for you. Shall we plan a catch-up?\n\n"
                     "- the quiz first (about 30 minutes)\n- then the case study, with an extension if you need one"),
        ("learner", 2, "Yes please. Work has been hectic; an extension of a week for the case study would help a lot."),
    ]),
    (2, "demo-hand-in", "Your last hand-in", [
        ("staff", 0.5, "Your hand-in for last month has arrived; I will grade it this week."),
    ]),
]


def demo_conversations(session: DbSession, cohort: Cohort, instructor: User, now: datetime) -> int:
    """The demo's inbox: the instructor's messages to three learners, two of them answered
    (learner01 has an answer of the instructor's unread, the instructor a reply of learner10's).
    Answers how many conversations this run started (none the second time)."""
    started = 0
    for number, token, subject, messages in CONVERSATIONS:
        learner = find_user(session, learner_email(number))
        if learner is None:
            continue
        (_, days, body), *answers = messages
        opened = start_conversation(session, cohort, instructor, learner, subject, body, now - timedelta(days=days),
                                    link_for, token=token)
        started += opened.made
        for index, (who, days, body) in enumerate(answers, start=1):
            reply(session, opened.conversation, instructor if who == "staff" else learner, body,
                  now - timedelta(days=days), link_for, token=f"{token}-{index}")
    return started


def evidence_count(session: DbSession) -> int:
    return session.scalar(select(func.count()).select_from(Evidence)) or 0


def demo_certificates(session: DbSession, now: datetime, benchmark: bool = True) -> int:
    """Issue the certificates the demo organization's learners have earned, as the periodic
    check (``check-certificates``) would once the demo's work is graded: the benchmark
    cohorts' learners reach a level complete in bulk, with no grade release to issue
    theirs. ``benchmark`` False: the demo cohort's alone (the check works out each due
    learner's progress, tens of milliseconds a learner: minutes at volume). How many were
    issued; a second run issues none."""
    org = session.scalar(select(Organization).where(Organization.name == ORGANIZATION))
    if org is None:
        return 0
    query = select(Cohort).where(Cohort.organization_id == org.id, Cohort.archived_at.is_(None))
    if not benchmark:
        query = query.where(Cohort.name == COHORT)
    cohorts = session.scalars(query.order_by(Cohort.id))
    return sum(issue_due_in(session, cohort, now) for cohort in cohorts)

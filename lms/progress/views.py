"""Progress pages: the learner's progress and competency profile, marking lessons read, and
the staff view of one learner with the instructor's competency rating."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from markupsafe import Markup, escape

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.catalog.models import Lesson
from lms.cohorts.access import loaded_role_flags
from lms.cohorts.enrolment import active_enrolment, last_enrolment
from lms.cohorts.models import Cohort
from lms.cohorts.views import nav_is_learner
from lms.database import utcnow
from lms.extensions import db
from lms.progress import content as _content  # noqa: F401 - registers the mastery policy content section
from lms.progress import evidence as _evidence  # noqa: F401 - turns quiz, grade and peer results into evidence
from lms.progress import services
from lms.progress.completion import Item, LearnerProgress, LevelStatus, learner_progress
from lms.progress.forms import RatingForm, ReadForm
from lms.progress.models import ItemKind
from lms.web.filters import due_day, your_time
from lms.web.forms import labelled_choices
from lms.web.page_cache import Viewer, cached_page

bp = Blueprint("progress", __name__, template_folder="templates")


ITEM_PAGES = {ItemKind.LESSON: ("catalog.lesson", "Lesson"), ItemKind.QUIZ: ("assessment.quiz", "Quiz"),
              ItemKind.EXAM: ("assessment.quiz", "Level exam"), ItemKind.ASSIGNMENT: ("coursework.assignment", "Assignment"),
              ItemKind.PORTFOLIO: ("coursework.assignment", "Portfolio")}
KEY = "__key__"


def _item_url(endpoint: str, key: str) -> str:
    """``url_for(endpoint, key=key)``, built once per endpoint and request (a progress page
    links a few hundred items; the keys are slugs)."""
    bases: dict[str, str] = g.setdefault("progress_item_urls", {})
    if endpoint not in bases:
        bases[endpoint] = url_for(endpoint, key=KEY)
    return bases[endpoint].replace(KEY, quote(key, safe=""))


@bp.app_template_global("progress_item_link")
def item_link(item: Item, today: date, opens_at: datetime | None = None) -> Markup:
    """One item of a progress page: a link to its page with its kind, or, not open yet on
    the learner's dates, its title with its opening date (its page would answer 403), with
    the hour it opens on the viewer's clock when ``opens_at`` is given; then its module and
    where the learner stands."""
    endpoint, label = ITEM_PAGES[item.kind]
    title = escape(item.title)
    if item.opens_on > today:
        html = (f'<span class="locked-item">{title}</span> <span class="tag">{label}</span> '
                f'<span class="muted small">· opens on {item.opens_on:%d %b %Y}'
                f'{your_time(opens_at, "from") if opens_at else ""}</span>')
    else:
        html = f'<a href="{escape(_item_url(endpoint, item.key))}">{title}</a> <span class="tag">{label}</span>'
    if item.module:
        html += f' <span class="muted small">· {escape(item.module.title)}</span>'
    if item.detail:
        html += f' <span class="muted small">· {escape(item.detail)}</span>'
    return Markup(html)  # noqa: S704 - every value in it is escaped above (labels are the constants of ITEM_PAGES)


@bp.app_template_global("progress_level_items")
def level_items(status: LevelStatus, progress: LearnerProgress) -> Markup:
    """Every item of a level as a progress page lists it under "Everything in this level":
    done or not, the item (``item_link``) and when it is due, with the hour on the viewer's
    clock as the rest of the page says it; its modules' items, then its exam and portfolio.
    Made in Python: a learner's year is some 130 items, each a call of the template's loop
    and macros."""
    items = [item for part in status.parts for item in part.items]
    items += [item for item in (status.exam, status.portfolio) if item is not None]
    today = progress.today
    return Markup("".join(  # noqa: S704 - item_link and your_time escape
        f'      <li>{"✓" if item.done else "○"} {item_link(item, today, progress.opens_at(item))} '
        f'<span class="muted small">· {"closes" if item.closes else "due"} {escape(due_day(item.due_on, due, item.closes))}'
        f'{your_time(due, "at" if item.closes else "by")}</span></li>\n'
        for item in items for due in (progress.due_at(item),)))


@bp.app_template_global("lesson_read")
def lesson_read(lesson: Lesson) -> bool | None:
    """For the lesson page: whether the signed-in learner marked it read (None: not a learner)."""
    if not nav_is_learner():  # the layout asks the same question; answered once per request
        return None
    return services.has_read(db.session, signed_in().id, lesson.id)


@bp.post("/lessons/<key>/read")
def read_lesson(key: str) -> Any:
    form = ReadForm()
    if not form.validate_on_submit():
        abort(400)
    lesson = services.active_lesson(db.session, key) or abort(404)
    user = signed_in()
    if active_enrolment(db.session, user.id) is None:
        flash("Reading is tracked for learners enrolled in a cohort.", "error")
    elif form.undo.data:
        services.unmark_read(db.session, user.id, lesson)
        flash("The lesson is no longer marked as read.", "success")
    else:
        services.mark_read(db.session, user.id, lesson, utcnow())
        flash("Marked as read.", "success")
    return redirect(url_for("catalog.lesson", key=lesson.key))


@bp.get("/progress")
def overview() -> str:
    user = signed_in()
    now = utcnow()

    flags = loaded_role_flags(user)  # read with the signed-in user: no statement of its own
    if not (flags.learns if flags is not None else active_enrolment(db.session, user.id)):
        # a former learner (``LEARNER_OR_FORMER``): where they got to in the cohort they were in,
        # read-only, built each time (rare, and never the page kept while they were enrolled)
        former = last_enrolment(db.session, user.id) or abort(403)
        return render_template("progress/overview.html", cohort=former.cohort, former=former,
                               progress=learner_progress(db.session, former.cohort, user.id, now))

    def render() -> str:
        enrolment = active_enrolment(db.session, user.id) or abort(403)
        return render_template("progress/overview.html", cohort=enrolment.cohort, former=None,
                               progress=learner_progress(db.session, enrolment.cohort, user.id, now))

    return cached_page(db.session, "progress", Viewer(user.id, user.name, user.timezone, user.is_admin), now, render)


@bp.get("/progress/competency")
def competency() -> str:
    rules = services.policy(db.session)
    return render_template("progress/competency.html", rules=rules,
                           profiles=services.profile(db.session, signed_in().id, rules))


def _rating_form(profiles: list[services.ObjectiveProfile], rules: services.Policy) -> RatingForm:
    form = RatingForm()
    form.objective.choices = labelled_choices({p.objective.id: f"{p.objective.key} · {p.objective.title}" for p in profiles})
    form.level.choices = labelled_choices({n: f"{n} · {rules.name_of(n)}" for n in services.RATING_LEVELS})
    return form


def _learner_page(cohort: Cohort, learner: User, form: RatingForm, profiles: list[services.ObjectiveProfile],
                  rules: services.Policy, status: int = 200) -> tuple[str, int]:
    return render_template("progress/learner.html", cohort=cohort, learner=learner, form=form, profiles=profiles, rules=rules,
                           progress=learner_progress(db.session, cohort, learner.id, utcnow())), status


def _people(cohort_id: int, user_id: int) -> tuple[Cohort, User]:
    return db.session.get(Cohort, cohort_id) or abort(404), db.session.get(User, user_id) or abort(404)


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>/progress")
def learner(cohort_id: int, user_id: int) -> tuple[str, int]:
    cohort, person = _people(cohort_id, user_id)
    rules = services.policy(db.session)
    profiles = services.profile(db.session, person.id, rules)
    return _learner_page(cohort, person, _rating_form(profiles, rules), profiles, rules)


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/ratings")
def rate(cohort_id: int, user_id: int) -> Any:
    cohort, person = _people(cohort_id, user_id)
    rules = services.policy(db.session)
    profiles = services.profile(db.session, person.id, rules)
    form = _rating_form(profiles, rules)
    if form.validate_on_submit():
        objective = next((p.objective for p in profiles if p.objective.id == form.objective.data), None)
        try:
            services.rate(db.session, person.id, objective, form.level.data, form.note.data or "",
                          signed_in().id, utcnow(), token=form.token.value)
        except services.EvidenceError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            assert objective is not None  # services.rate refuses a rating without one
            flash(f"Rating recorded: {objective.key} at level {form.level.data} ({rules.name_of(form.level.data)}).", "success")
            return redirect(url_for("progress.learner", cohort_id=cohort.id, user_id=person.id))
    return _learner_page(cohort, person, form, profiles, rules, status=400)

"""Team projects (issue 12 point 4): the content declares a team assignment (bad values
refused with file and line); learners form and join teams within limits; one submission
per team that any member edits (a save from an older view is refused, not silently
overwritten); staff grade once and every member gets the grade and its evidence; members
rate each other's contribution anonymously; staff adjust one member's grade with a note,
and that member's evidence follows. Races use real parallel connections."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.coursework.models import Assignment, AssignmentKind, Submission
from lms.coursework.services import work_states
from lms.coursework.specs import CriterionSpec
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import save_grade
from lms.notifications.models import Notification, NotificationEvent
from lms.teams import services
from lms.teams.models import ContributionRating, GradeAdjustment, Team, TeamMember
from tests.test_concurrency import RACERS, race
from tests.test_critique import check
from tests.test_evidence import evidence_of, mastery_of

KEY = "intl-hands-on-entry-plan"
TEAM_FILE = Path("modules") / "international-operations" / "assignments" / "02-hands-on.md"


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A cohort in its tenth month (the team assignment is open), with an instructor, an
    organization admin, six learners and a learner of another cohort, each signed in on their own client."""
    admin = make_user(name="Olga Admin")
    teacher = make_user(name="Tess Teacher")
    org = make_org(admins=[admin])
    cohort = make_cohort(org, "Founders", months_ago=9, instructors=[teacher])
    other = make_cohort(org, "Other", months_ago=9)
    learners = [enrol_learner(cohort, name=f"Founder {n}") for n in "ABCDEF"]
    outsider = enrol_learner(other, name="Outsider")
    clients = {}
    for person in [*learners, outsider, teacher, admin]:
        clients[person.id] = app.test_client()
        login(clients[person.id], person)
    return {"cohort": cohort, "other": other, "learners": learners, "outsider": outsider, "teacher": teacher,
            "admin": admin, "clients": clients, "assignment": db.session.scalar(select(Assignment).where(Assignment.key == KEY))}


def client_of(course: dict[str, Any], person: Any) -> Any:
    return course["clients"][person.id]


def team_named(name: str) -> Team:
    db.session.expire_all()
    return db.session.scalars(select(Team).where(Team.name == name)).one()


def form_team(course: dict[str, Any], name: str, people: list[Any]) -> Team:
    """The first person starts the team, the others join it, through the pages."""
    first, *rest = people
    assert client_of(course, first).post(f"/assignments/{KEY}/team/new", data={"name": name}).status_code == 302
    team = team_named(name)
    for person in rest:
        assert client_of(course, person).post(f"/assignments/{KEY}/teams/{team.id}/join").status_code == 302
    return team_named(name)


def save(course: dict[str, Any], person: Any, body: str, revision: Any, action: str = "save") -> Any:
    return client_of(course, person).post(f"/assignments/{KEY}/team/work",
                                          data={"body": body, "revision": str(revision), "action": action})


# --------------------------------------------------------------------------- content


def test_the_shipped_team_assignment_loads_with_its_limits(course) -> None:
    item = course["assignment"]
    assert item.is_team and (item.team_min, item.team_max, item.team_self_formed) == (2, 4, True)
    assert item.peer_reviews == 0 and "team of two to four founders" in item.body


@pytest.mark.parametrize(("team", "message", "line_of"), [
    ("team: {min: 5, max: 3}", "team min (5) is larger than max (3)", "team:"),
    ("team: {min: 2, max: 40}", "less than or equal to 12", "team:"),
    ("team: {min: 2, max: 4, size: 3}", "size", "team:"),
])
def test_bad_team_values_are_refused_with_file_and_line(app: Flask, content_dir: Path, team: str, message: str,
                                                       line_of: str) -> None:
    path = content_dir / TEAM_FILE
    text = path.read_text()
    start = text.index("team:")
    end = text.index("self_formed: true\n") + len("self_formed: true\n")
    path.write_text(text[:start] + team + "\n" + text[end:])
    result = check(app)
    assert result.exit_code != 0
    line = next(i for i, row in enumerate(path.read_text().splitlines(), start=1) if row.startswith(line_of))
    assert f"02-hands-on.md:{line}" in result.output and message in result.output, result.output


def test_a_team_assignment_with_peer_reviews_is_refused(app: Flask, content_dir: Path) -> None:
    path = content_dir / TEAM_FILE
    path.write_text(path.read_text().replace("peer_reviews: 0", "peer_reviews: 2"))
    result = check(app)
    line = next(i for i, row in enumerate(path.read_text().splitlines(), start=1) if row.startswith("peer_reviews:"))
    assert result.exit_code != 0 and f"02-hands-on.md:{line}: a team assignment has no peer reviews" in result.output


# --------------------------------------------------------------------------- forming teams


def test_learners_form_and_join_teams_within_limits(course) -> None:
    a, b, c, d, e, f = course["learners"]
    team = form_team(course, "Northwind", [a, b, c, d])
    assert [m.user.name for m in team.members] == ["Founder A", "Founder B", "Founder C", "Founder D"]
    full = client_of(course, e).post(f"/assignments/{KEY}/teams/{team.id}/join", follow_redirects=True)
    assert "Northwind is full: at most 4 members" in full.get_data(as_text=True)
    again = client_of(course, a).post(f"/assignments/{KEY}/team/new", data={"name": "Second"}, follow_redirects=True)
    assert "You are already in Northwind" in again.get_data(as_text=True)
    taken = client_of(course, e).post(f"/assignments/{KEY}/team/new", data={"name": "northwind "}, follow_redirects=True)
    assert taken.status_code == 200  # a different name (case differs): allowed
    same = client_of(course, f).post(f"/assignments/{KEY}/team/new", data={"name": "Northwind"}, follow_redirects=True)
    assert "There is already a team called &#39;Northwind&#39;" in same.get_data(as_text=True)
    # leaving before handing in; the outsider's cohort does not see or reach the team
    assert client_of(course, d).post(f"/assignments/{KEY}/team/leave").status_code == 302
    assert len(team_named("Northwind").members) == 3
    assert client_of(course, course["outsider"]).post(f"/assignments/{KEY}/teams/{team.id}/join").status_code == 404
    page = client_of(course, course["outsider"]).get(f"/assignments/{KEY}/team").get_data(as_text=True)
    assert "Northwind" not in page


def test_a_learner_formed_team_left_empty_ends_and_its_draft_goes(course) -> None:
    a = course["learners"][0]
    team = form_team(course, "Solo", [a])
    assert save(course, a, "Draft", team.draft_revision).status_code == 302
    assert client_of(course, a).post(f"/assignments/{KEY}/team/leave").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Team.id))) == 0
    assert db.session.scalar(select(func.count(Submission.id))) == 0


def test_a_team_name_keeps_no_direction_override_or_invisible_character(course) -> None:
    """A team's name is shown to classmates beside other text: a direction override in it
    (U+202E) turned what followed around, and a name of invisible characters read as none.
    They are taken out as from a person's name (``tidy_name``); nothing readable left is refused."""
    a, b = course["learners"][:2]
    made = client_of(course, a).post(f"/assignments/{KEY}/team/new", data={"name": "North\u202ewind\u200b"})
    assert made.status_code == 302 and team_named("Northwind") is not None
    refused = client_of(course, b).post(f"/assignments/{KEY}/team/new", data={"name": "\u202e\u200b"}, follow_redirects=True)
    assert "A name needs at least one letter or digit" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Team)) == 1


def test_dissolving_a_team_asks_first(course) -> None:
    """Dissolving a team that has not handed in discards its shared draft, and cannot be
    undone: the button opens a confirmation that says so (no script), whose own button
    dissolves it."""
    a = course["learners"][0]
    staff = client_of(course, course["teacher"])
    base = f"/cohorts/{course['cohort'].id}"
    assert staff.post(f"{base}/assignments/{KEY}/teams", data={"name": "Blue"}).status_code == 302
    blue = team_named("Blue")
    assert staff.post(f"{base}/teams/{blue.id}/members", data={"user": a.id}).status_code == 302
    page = staff.get(f"{base}/assignments/{KEY}/teams").get_data(as_text=True)
    asked = re.search(r'<details class="confirm[^"]*">\s*<summary[^>]*>Dissolve Blue</summary>\s*'
                      rf'<form method="post" action="{base}/teams/{blue.id}/dissolve"[^>]*>(.*?)</form>\s*</details>', page, re.S)
    assert asked, "the dissolve button is a confirmation to open, not the form's submit"
    assert "draft" in asked.group(1) and "cannot be undone" in asked.group(1)
    assert re.search(r'<button class="button secondary" type="submit">Yes, dissolve Blue</button>', asked.group(1))


def test_staff_create_rename_fill_and_dissolve_teams(course) -> None:
    a, b, c = course["learners"][:3]
    staff = client_of(course, course["teacher"])
    cohort = course["cohort"]
    base = f"/cohorts/{cohort.id}"
    assert staff.post(f"{base}/assignments/{KEY}/teams", data={"name": "Blue"}).status_code == 302
    assert staff.post(f"{base}/assignments/{KEY}/teams", data={"name": "Red"}).status_code == 302
    blue, red = team_named("Blue"), team_named("Red")
    assert staff.post(f"{base}/teams/{blue.id}/members", data={"user": a.id}).status_code == 302
    assert staff.post(f"{base}/teams/{blue.id}/members", data={"user": b.id}).status_code == 302
    moved = staff.post(f"{base}/teams/{red.id}/members", data={"user": a.id}, follow_redirects=True).get_data(as_text=True)
    assert "Founder A is already in Blue: leave it first." in moved
    outsider = staff.post(f"{base}/teams/{red.id}/members", data={"user": course["outsider"].id}, follow_redirects=True)
    # not named: a staff member must not learn the name behind any id of the platform
    assert "That person is not a learner of this team&#39;s cohort." in outsider.get_data(as_text=True)
    assert "Outsider" not in outsider.get_data(as_text=True)
    clash = staff.post(f"{base}/teams/{red.id}/rename", data={f"team-{red.id}-name": "Blue"})
    assert clash.status_code == 400 and "There is already a team called &#39;Blue&#39;" in clash.get_data(as_text=True)
    assert staff.post(f"{base}/teams/{red.id}/rename", data={f"team-{red.id}-name": "Crimson"}).status_code == 302
    assert staff.post(f"{base}/teams/{blue.id}/members/{b.id}/remove").status_code == 302
    assert staff.post(f"{base}/teams/{red.id}/dissolve").status_code == 302
    staff.get(f"{base}/assignments/{KEY}/teams")  # the flashes shown
    page = staff.get(f"{base}/assignments/{KEY}/teams").get_data(as_text=True)
    assert "<h2>Blue " in page and "Crimson" not in page and "Red" not in page
    assert [m.user_id for m in team_named("Blue").members] == [a.id]
    unplaced = page.split("Learners not in a team")[1]
    assert c.name in unplaced and b.name in unplaced and a.name not in unplaced
    # staff of another cohort's page cannot reach this team
    assert staff.post(f"/cohorts/{course['other'].id}/teams/{blue.id}/rename", data={f"team-{blue.id}-name": "X"}).status_code in (403, 404)


# --------------------------------------------------------------------------- the team's work, grade and ratings


def test_the_whole_team_journey(app: Flask, course) -> None:
    a, b, c = course["learners"][:3]
    team = form_team(course, "Tallyweave task force", [a, b, c])
    assert save(course, a, "Market memo v1", team.draft_revision).status_code == 302
    # B opened the page before A saved: B's save is refused, B's text kept, A's stays
    stale = save(course, b, "B's overwrite", team.draft_revision)
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "a teammate saved the team&#39;s work after you opened it" in page and "B&#39;s overwrite" in page
    team = team_named("Tallyweave task force")
    assert team.submission.draft_body == "Market memo v1" and team.submission.user_id == a.id
    # B reloads, merges and hands in for the team; a file is shared with the team only
    upload = client_of(course, b).post(f"/assignments/{KEY}/team/work", data={
        "body": "Market memo v2", "revision": str(team.draft_revision), "action": "save",
        "file": (__import__("io").BytesIO(b"owner,risk\n"), "register.csv")}, content_type="multipart/form-data")
    assert upload.status_code == 302
    team = team_named("Tallyweave task force")
    drafted = team.submission.current_attachments[0]  # the draft's file: the team's alone until handed in
    assert client_of(course, c).get(f"/teams/{team.id}/files/{drafted.id}").status_code == 200
    assert client_of(course, course["teacher"]).get(f"/teams/{team.id}/files/{drafted.id}").status_code == 404
    assert save(course, b, "Market memo v2, final", team.draft_revision, "submit").status_code == 302
    team = team_named("Tallyweave task force")
    assert team.submitted and len(team.submission.versions) == 1
    attachment = team.submission.current_attachments[0]
    assert client_of(course, c).get(f"/teams/{team.id}/files/{attachment.id}").status_code == 200
    assert client_of(course, course["learners"][3]).get(f"/teams/{team.id}/files/{attachment.id}").status_code == 404
    assert client_of(course, course["teacher"]).get(f"/teams/{team.id}/files/{attachment.id}").status_code == 200
    # members are fixed now
    left = client_of(course, c).post(f"/assignments/{KEY}/team/leave", follow_redirects=True).get_data(as_text=True)
    assert "has handed in its work: its members are fixed" in left
    # ratings: teammates only, 1-5, replaced on a second save, never shown to the others
    bad = client_of(course, a).post(f"/assignments/{KEY}/team/ratings", data={f"score-{a.id}": "5"}, follow_redirects=True)
    assert "You can rate only your teammates." in bad.get_data(as_text=True)
    out_of_range = client_of(course, a).post(f"/assignments/{KEY}/team/ratings", data={f"score-{b.id}": "9"}, follow_redirects=True)
    assert "Ratings go from 1 to 5." in out_of_range.get_data(as_text=True)
    # a comment without its rating is refused, and the form comes back as sent (nothing typed is lost)
    unrated = client_of(course, a).post(f"/assignments/{KEY}/team/ratings", data={
        f"score-{b.id}": "4", f"comment-{b.id}": "Kept the plan moving.", f"comment-{c.id}": "Hard to reach this month."})
    page = unrated.get_data(as_text=True)
    assert unrated.status_code == 400 and "Choose a rating for every teammate you wrote a comment on" in page
    assert "Hard to reach this month.</textarea>" in page and "Kept the plan moving.</textarea>" in page
    assert f'name="score-{b.id}" value="4" checked' in page
    assert db.session.scalar(select(func.count(ContributionRating.id))) == 0
    for rater, scores in ((a, {b: 5, c: 1}), (b, {a: 4, c: 2}), (c, {a: 4, b: 5})):
        form = {f"score-{p.id}": str(s) for p, s in scores.items()} | {f"comment-{c.id}": "Missed two meetings."}
        assert client_of(course, rater).post(f"/assignments/{KEY}/team/ratings", data=form).status_code == 302
    assert client_of(course, a).post(f"/assignments/{KEY}/team/ratings", data={f"score-{c.id}": "2"}).status_code == 302
    assert db.session.scalar(select(func.count(ContributionRating.id))) == 6
    seen_by_c = client_of(course, c).get(f"/assignments/{KEY}/team").get_data(as_text=True)
    assert "Missed two meetings" not in seen_by_c  # C sees only the ratings C gave
    # staff see the ratings per member with who gave them
    detail = client_of(course, course["teacher"]).get(f"/cohorts/{course['cohort'].id}/teams/{team.id}").get_data(as_text=True)
    assert "mean 2.0 from 2 ratings" in detail and "2 from Founder A" in detail and "Missed two meetings" in detail
    # an adjustment needs a grade first
    early = client_of(course, course["teacher"]).post(f"/cohorts/{course['cohort'].id}/teams/{team.id}/members/{c.id}/adjustment",
                                                    data={"points": "-2", "note": "Uneven", "revision": ""})
    assert early.status_code == 400 and "Grade the team&#39;s work" in early.get_data(as_text=True)
    # graded once with the rubric, released: every member gets the grade and the evidence
    criteria = course["assignment"].rubric.current.criteria
    levels = {cr.id: cr.levels[1].id for cr in criteria}
    url = f"/cohorts/{course['cohort'].id}/submissions/{team.submission_id}"
    form = {f"level-{k}": v for k, v in levels.items()} | {"feedback": "A credible plan.", "action": "release", "revision": ""}
    assert client_of(course, course["teacher"]).post(url, data=form).status_code == 302
    trails = {p.id: evidence_of(p.id, "rubric") for p in (a, b, c)}
    codes = {code for cr in criteria for code in cr.objectives}
    assert all(set(trail) == codes for trail in trails.values())
    assert all(mastery_of(p.id)[code] is not None for p in (a, b, c) for code in codes)  # and on to mastery
    levels_a = {k: [e.level for e in rows] for k, rows in trails[a.id].items()}
    assert levels_a == {k: [e.level for e in rows] for k, rows in trails[c.id].items()}
    # staff adjust C down with a note; a note is required
    adjust_url = f"/cohorts/{course['cohort'].id}/teams/{team.id}/members/{c.id}/adjustment"
    teacher = client_of(course, course["teacher"])
    no_note = teacher.post(adjust_url, data={"points": "-3", "note": " ", "revision": "", "member": str(c.id)})
    assert no_note.status_code == 400 and "Say why in the note" in no_note.get_data(as_text=True)
    assert 'value="-3"' in no_note.get_data(as_text=True)  # the input is kept
    team_grade = services.grades_of(db.session, [team_named("Tallyweave task force")])[team.id]
    for past in (team_grade.max_score - team_grade.score + 1, -team_grade.score - 1):  # past the maximum, below 0
        refused = teacher.post(adjust_url, data={"points": f"{past:g}", "note": "Too far", "revision": ""})
        assert refused.status_code == 400, past
        assert (f"an adjustment is between -{team_grade.score:g} and +{team_grade.max_score - team_grade.score:g} points"
                in refused.get_data(as_text=True))
    assert db.session.scalar(select(GradeAdjustment.points)) is None
    assert teacher.post(adjust_url, data={"points": "-3", "note": "Teammates and the log show a small share of the work.",
                                          "revision": ""}).status_code == 302
    grade = services.grades_of(db.session, [team_named("Tallyweave task force")])[team.id]
    after = evidence_of(c.id, "rubric")
    shift = 3 / grade.max_score * 4
    for code, rows in after.items():
        assert rows[-1].level == pytest.approx(max(0.0, levels_a[code][-1] - shift), abs=1e-3)
        assert "adjusted -3 points" in rows[-1].note
    assert {k: [e.level for e in rows] for k, rows in evidence_of(a.id, "rubric").items()} == levels_a
    # C sees the team's grade, their own and the note; A sees no note
    mine = client_of(course, c).get(f"/assignments/{KEY}/team").get_data(as_text=True)
    assert f"{grade.score:g} / {grade.max_score:g}" in mine and f"{grade.score - 3:g} / {grade.max_score:g}" in mine
    assert "Teammates and the log show a small share of the work." in mine and "A credible plan." in mine
    assert "small share" not in client_of(course, a).get(f"/assignments/{KEY}/team").get_data(as_text=True)
    # a second staff save from the stale (empty) revision is refused, not silently overwritten
    stale_adjust = teacher.post(adjust_url, data={"points": "1", "note": "Other view", "revision": ""})
    assert stale_adjust.status_code == 409
    assert db.session.scalar(select(GradeAdjustment.points)) == -3
    # a regrade (re-release) keeps C's adjustment in their evidence, the holder (A) gets the plain grade
    form["revision"] = str(grade.revision)
    assert teacher.post(url, data=form).status_code == 302
    assert all(rows[-1].level == pytest.approx(max(0.0, levels_a[k][-1] - shift), abs=1e-3)
               for k, rows in evidence_of(c.id, "rubric").items())
    assert {k: rows[-1].level for k, rows in evidence_of(a.id, "rubric").items()} == {k: v[-1] for k, v in levels_a.items()}


def test_a_team_below_its_minimum_cannot_hand_in(course) -> None:
    a = course["learners"][0]
    team = form_team(course, "Alone", [a])
    response = save(course, a, "Everything", team.draft_revision, "submit")
    assert response.status_code == 400
    assert "A team hands in with at least 2 members; Alone has 1." in response.get_data(as_text=True)
    assert not team_named("Alone").submitted


def test_the_individual_work_page_sends_team_members_to_the_team(course) -> None:
    a = course["learners"][0]
    response = client_of(course, a).get(f"/assignments/{KEY}/work")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/assignments/{KEY}/team")
    assert client_of(course, a).post(f"/assignments/{KEY}/work", data={"body": "x", "action": "submit"}).status_code == 303
    assert db.session.scalar(select(func.count(Submission.id))) == 0


def test_the_staff_page_statements_do_not_grow_with_learners(app: Flask, course, count_queries, enrol_learner) -> None:
    staff = client_of(course, course["teacher"])
    url = f"/cohorts/{course['cohort'].id}/assignments/{KEY}/teams"
    form_team(course, "One", course["learners"][:3])
    form_team(course, "Two", course["learners"][3:5])
    small = count_queries(lambda: staff.get(url))
    for n in range(6):
        enrol_learner(course["cohort"], name=f"Extra {n}")
    form_team(course, "Three", [course["learners"][5]])
    assert count_queries(lambda: staff.get(url)) == small


# --------------------------------------------------------------------------- races


def test_racing_joins_never_overfill_a_team(course) -> None:
    a, b, c, *rest = course["learners"]
    team = form_team(course, "Last seat", [a, b, c])
    joiners = rest[:3]
    clients, url = [client_of(course, p) for p in joiners], f"/assignments/{KEY}/teams/{team.id}/join"
    responses = race([lambda cl=cl: cl.post(url) for cl in clients])
    assert all(r.status_code == 302 for r in responses)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(TeamMember.id)).where(TeamMember.team_id == team.id)) == 4


def test_one_learner_racing_into_two_teams_ends_in_one(app: Flask, course, login) -> None:
    a, b, c = course["learners"][:3]
    first, second = form_team(course, "First", [a]), form_team(course, "Second", [b])
    clients = []
    for _ in range(RACERS):
        client = app.test_client()
        login(client, c)
        clients.append(client)
    first_id, second_id = first.id, second.id
    targets = [first_id if i % 2 else second_id for i in range(RACERS)]
    responses = race([lambda cl=cl, t=t: cl.post(f"/assignments/{KEY}/teams/{t}/join") for cl, t in zip(clients, targets, strict=True)])
    assert all(r.status_code == 302 for r in responses)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(TeamMember.id)).where(TeamMember.user_id == c.id)) == 1


def test_racing_saves_from_one_revision_keep_exactly_one(app: Flask, course, login) -> None:
    a, b, c, d = course["learners"][:4]
    team = form_team(course, "Racers", [a, b, c, d])
    assert save(course, a, "Start", team.draft_revision).status_code == 302
    revision = team_named("Racers").draft_revision
    members = [a, b, c, d]
    clients = []
    for i in range(RACERS):
        client = app.test_client()
        login(client, members[i % 4])
        clients.append(client)
    responses = race([lambda cl=cl, i=i: cl.post(f"/assignments/{KEY}/team/work", data={
        "body": f"Version of racer {i}", "revision": str(revision), "action": "save"}) for i, cl in enumerate(clients)])
    codes = sorted(r.status_code for r in responses)
    assert codes == [302] + [409] * (RACERS - 1), codes
    winner = next(i for i, r in enumerate(responses) if r.status_code == 302)
    assert team_named("Racers").submission.draft_body == f"Version of racer {winner}"
    assert team_named("Racers").draft_revision == revision + 1


def test_racing_team_names_give_one_team_and_messages(app: Flask, course, login) -> None:
    learners = course["learners"][:4]
    clients = [client_of(course, p) for p in learners]
    responses = race([lambda cl=cl: cl.post(f"/assignments/{KEY}/team/new", data={"name": "Same name"},
                                            follow_redirects=True) for cl in clients])
    # one team started; the others refused on their page, the name they typed still in its field
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Team.id))) == 1
    refused = [r for r in responses if "There is already a team called" in r.get_data(as_text=True)]
    assert len(refused) == 3


def test_service_refuses_work_of_non_members(course) -> None:
    a, b, c = course["learners"][:3]
    team = form_team(course, "Pair", [a, b])
    with pytest.raises(services.TeamError, match="Only the team's members"):
        services.save_work(db.session, team, c.id, team.draft_revision, "x", None, False, None, Path("/tmp"), utcnow())
    with pytest.raises(services.TeamError, match="Ratings open once"):
        services.rate(db.session, team, a.id, {b.id: 3}, {}, utcnow())
    db.session.rollback()
    assert save_grade is not None  # the grading service is the one the journey uses


def test_an_adjustment_moves_each_objective_by_its_share_of_the_maximum() -> None:
    """The member's outcome is the grade's (progress's maths), shifted and kept within 0-1."""
    criteria = [CriterionSpec.model_validate({"id": cid, "title": cid, "objectives": [code], "levels": [
        {"id": "top", "title": "Top", "points": 4, "descriptor": "."}, {"id": "low", "title": "Low", "points": 1, "descriptor": "."}]})
        for cid, code in (("one", "KO3"), ("two", "SO3"))]
    grade: Any = SimpleNamespace(id=7, grader_id=1, selections={"one": {"level": "top"}, "two": {"level": "low"}}, status="released",
                                 max_score=8.0, rubric_version=SimpleNamespace(criteria=criteria),
                                 submission=SimpleNamespace(assignment=SimpleNamespace(title="Plan", kind=AssignmentKind.HANDS_ON)))
    ids = {"KO3": 1, "SO3": 2}
    assert services.member_outcome(grade, None, ids).fractions == {1: 1.0, 2: 0.25}
    down: Any = SimpleNamespace(points=-2.0)
    outcome = services.member_outcome(grade, down, ids)
    assert outcome.fractions == {1: 0.75, 2: 0.0} and outcome.note == "Plan (team grade adjusted -2 points)"
    assert outcome.source_ref == "grade:7"
    up: Any = SimpleNamespace(points=4.0)
    assert services.member_outcome(grade, up, ids).fractions == {1: 1.0, 2: 0.75}


def test_each_member_sees_the_teams_work_on_the_assessed_work_list(course) -> None:
    """The team's submission is held by one member; every member's list says where it stands."""
    a, b = course["learners"][:2]
    team = form_team(course, "Tallyweave task force", [a, b])
    assert save(course, a, "Market memo v1", team.draft_revision).status_code == 302
    for person in (a, b):
        html = client_of(course, person).get("/coursework").get_data(as_text=True)
        row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if f"/assignments/{KEY}\"" in r)
        assert '>draft <span class="tag">team</span><' in row, person.name


def _hand_in_and_release(course, team: Team) -> tuple[Team, str, dict[str, str]]:
    """``team``'s first member hands its work in; the teacher releases its grade (each criterion's second level)."""
    assert save(course, team.members[0].user, "Market memo", team.draft_revision, "submit").status_code == 302
    team = team_named(team.name)
    url = f"/cohorts/{course['cohort'].id}/submissions/{team.submission_id}"
    form = {f"level-{cr.id}": cr.levels[1].id for cr in course["assignment"].rubric.current.criteria}
    form |= {"feedback": "A credible plan.", "action": "release", "revision": ""}
    assert client_of(course, course["teacher"]).post(url, data=form).status_code == 302
    return team, url, form


def test_a_team_grade_returned_after_release_withdraws_every_members_release_and_adjustment_notice(course) -> None:
    """Each member was told of the release, and one of their adjusted points; once the work is
    returned for revision, neither notice stands and each member is told of the return."""
    a, b = course["learners"][:2]
    team, url, form = _hand_in_and_release(course, form_team(course, "Tallyweave task force", [a, b]))
    teacher = client_of(course, course["teacher"])
    assert teacher.post(f"/cohorts/{course['cohort'].id}/teams/{team.id}/members/{b.id}/adjustment",
                        data={"points": "-1", "note": "A smaller share.", "revision": ""}).status_code == 302
    told = {p.id: [n.title for n in db.session.scalars(select(Notification).where(Notification.user_id == p.id))]
            for p in (a, b)}
    assert len(told[a.id]) == 1 and len(told[b.id]) == 2 and "was adjusted" in told[b.id][1]
    grade = services.grades_of(db.session, [team_named("Tallyweave task force")])[team.id]
    assert teacher.post(url, data=form | {"action": "return", "revision": str(grade.revision)}).status_code == 302
    db.session.expire_all()
    for person in (a, b):
        [left] = db.session.scalars(select(Notification).where(Notification.user_id == person.id))
        assert left.event == NotificationEvent.RETURNED_FOR_REVISION, person.name


def test_each_member_sees_their_own_released_score_on_the_assessed_work_list(course, count_queries) -> None:
    """Once the team's grade is released each member's list gives their score: the team's,
    or theirs as staff adjusted it, read in the list's one statement."""
    a, b, c = course["learners"][:3]

    def row_of(person: Any) -> str:
        html = client_of(course, person).get("/coursework").get_data(as_text=True)
        return next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if f"/assignments/{KEY}\"" in r)

    team = form_team(course, "Tallyweave task force", [a, b, c])
    team, _url, _form = _hand_in_and_release(course, team)
    grade = services.grades_of(db.session, [team])[team.id]
    assert grade.score is not None and grade.score >= 2
    teacher = client_of(course, course["teacher"])
    for person, points in ((b, "-2"), (c, f"{grade.max_score - grade.score:g}")):
        assert teacher.post(f"/cohorts/{course['cohort'].id}/teams/{team.id}/members/{person.id}/adjustment",
                            data={"points": points, "note": "Their share.", "revision": ""}).status_code == 302
    out_of = f" of {grade.max_score:g} points"
    assert f">graded: {grade.score:g}{out_of} <span class=\"tag\">team</span><" in row_of(a)  # the holder
    assert f">graded: {grade.score - 2:g}{out_of} <span" in row_of(b)
    assert f">graded: {grade.max_score:g}{out_of} <span" in row_of(c)
    member = b.id
    db.session.expire_all()
    assert count_queries(lambda: work_states(db.session, member)) == 1


def test_staff_see_a_returned_team_grade_as_returned_for_revision(course) -> None:
    """Once an instructor returns the team's graded work, its grade is a draft again, but the
    learners see it returned for revision: the staff's teams page and the team's page said
    "(draft)", as if nobody had seen it; they say what the learners see."""
    a, b = course["learners"][:2]
    team, url, form = _hand_in_and_release(course, form_team(course, "Tallyweave task force", [a, b]))
    teacher = client_of(course, course["teacher"])
    manage = f"/cohorts/{course['cohort'].id}/assignments/{KEY}/teams"
    detail = f"/cohorts/{course['cohort'].id}/teams/{team.id}"
    assert "(released)" in teacher.get(manage).get_data(as_text=True)
    grade = services.grades_of(db.session, [team_named("Tallyweave task force")])[team.id]
    assert teacher.post(url, data=form | {"action": "return", "revision": str(grade.revision)}).status_code == 302
    for page in (manage, detail):
        html = teacher.get(page).get_data(as_text=True)
        assert "(returned for revision)" in html and "(draft)" not in html, page
    learner_page = client_of(course, a).get(f"/assignments/{KEY}/team").get_data(as_text=True)
    assert "returned for revision" in learner_page


def test_a_refused_team_rename_wraps_its_message_within_the_field() -> None:
    """A refused rename's message widened its field (the input stretched to the message's
    width), pushing the team's other buttons out of line; Chromium at 390 px and 1280 px
    showed the input at its own width with the message wrapping under it once this rule held.
    The button stays on the input's row (tests/browser/test_browser_teams.py measures it)."""
    css = (Path(__file__).resolve().parent.parent / "lms" / "web" / "static" / "style.css").read_text()
    assert (".team-rename .field > .error, .team-rename .field > small { grid-column: 1 / -1; width: 0; min-width: 100%; "
            "margin: 0; }") in css
    assert ".team-rename > button { grid-column: 2; grid-row: 2; justify-self: start; }" in css

"""A closed account (deactivated by a site admin, or erased: ``User.deactivated_at``) is on
nobody's to-do: not overdue or newly at risk on the instructor's home, not on the heat
map's at-risk list or in its count, not in at-risk notices, not in the organization's
at-risk figure. The heat map still shows the learner (marked "account closed") and the
cohort's figures (learners, distributions, funnel) still count them; the roster marks
them closed, and every export of learners (heat map, organization, gradebook, grades) says
so. Reopened, the account is at risk again."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select

from lms.accounts.models import User
from lms.admin.services import deactivate, reactivate
from lms.audit.services import Origin
from lms.competency.services import at_risk_ids, compare, heat_map
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook.models import RowFilter
from lms.gradebook.services import export_rows, gradebook, shown_learners
from lms.notifications.reminders import at_risk_notices
from lms.privacy.kinds import ERASED_NAME
from lms.privacy.services import erase_learner
from lms.today.services import instructor_today
from tests.test_at_risk import cohort  # noqa: F401 - the fixture: a cohort in month 8 with four learners at risk


def close_two(world: dict[str, Any]) -> tuple[User, User]:
    """Ed Idle (behind, with no evidence on closed objectives) deactivated; Di Zigzag
    (below the bar on KO1) erased."""
    idle = db.session.get_one(User, world["idle"].id)
    deactivate(db.session, idle, idle.session_version, Origin(world["admin"].id, None))
    zigzag = db.session.get_one(User, world["zigzag"].id)
    erase_learner(db.session, zigzag, zigzag.email, actor_id=None, ip=None, now=utcnow())
    db.session.commit()
    return idle, zigzag


def test_a_closed_account_is_on_no_list_that_asks_someone_to_act(cohort, client, login) -> None:  # noqa: F811
    group, open_ids = cohort["cohort"], {cohort["early"].id, cohort["late"].id}
    everyone = open_ids | {cohort["idle"].id, cohort["zigzag"].id}
    assert at_risk_ids(db.session, group, utcnow()) == everyone  # the fixture: all four at risk
    idle, zigzag = close_two(cohort)
    now = utcnow()

    heat = heat_map(db.session, group, now)
    assert {s.user_id for s in heat.risky} == open_ids and heat.risk_paging.total == 2
    assert {r.user.id for r in heat.at_risk} == open_ids
    assert at_risk_ids(db.session, group, now) == open_ids
    rows = {r.user.id: r for r in heat.rows}
    assert rows[idle.id].reasons == [] and rows[zigzag.id].reasons == []
    # the cohort's figures still count them: they were its learners
    assert heat.count == 4 and {s.user_id for s in heat.learners_in_order} == everyone
    assert all(d.total == 4 for d in heat.distributions) and all(step.total == 4 for step in heat.funnel)
    assert {line.user_id for line in heat.map_lines if line.closed} == {idle.id, zigzag.id}
    assert not any(line.at_risk for line in heat.map_lines if line.closed)
    assert compare(db.session, cohort["org"], now).cohorts[0].at_risk == 2

    today = instructor_today(db.session, cohort["instructor"].id, now)[0]
    assert not {b.id for b in today.overdue} & {idle.id, zigzag.id}
    assert {user.id for user, _reasons in today.new_at_risk} == open_ids
    notices = at_risk_notices(db.session, group, [cohort["instructor"]], now)
    assert {n.key.split(":")[2] for n in notices} == {str(i) for i in open_ids}

    login(client, cohort["instructor"])
    home = client.get("/home").get_data(as_text=True).split('id="instructor-today"')[1]
    assert "Ed Idle" not in home and ERASED_NAME not in home and "Bo Early" in home
    page = client.get(f"/cohorts/{group.id}/competency").get_data(as_text=True)
    risk_list = page.split('id="at-risk"')[1].split('id="map"')[0]
    assert "At risk (2)" in risk_list and "Ed Idle" not in risk_list and ERASED_NAME not in risk_list
    heat_table = page.split('id="heat-map"')[1]
    assert "Ed Idle" in heat_table and heat_table.count("account closed") == 2

    login(client, cohort["admin"])
    roster = client.get(f"/cohorts/{group.id}").get_data(as_text=True)
    assert "4 learners <span id=\"closed-count\">(2 active, 2 with a closed account)</span>" in roster
    learners = roster.split('id="cohort-learners"')[1].split("</table>")[0]
    assert learners.count("account closed") == 2
    row = next(r for r in learners.split("<tr>") if "Ed Idle" in r)
    assert "account closed" in row


def test_a_reopened_account_is_at_risk_again(cohort) -> None:  # noqa: F811
    group = cohort["cohort"]
    idle, _zigzag = close_two(cohort)
    assert idle.id not in at_risk_ids(db.session, group, utcnow())
    idle = db.session.scalars(select(User).where(User.id == idle.id)).one()
    reactivate(db.session, idle, idle.session_version, Origin(cohort["admin"].id, None))
    db.session.commit()
    now = utcnow()
    assert idle.id in at_risk_ids(db.session, group, now)
    today = instructor_today(db.session, cohort["instructor"].id, now)[0]
    assert idle.id in {b.id for b in today.overdue} and idle.id in {u.id for u, _r in today.new_at_risk}


def test_the_gradebooks_overdue_filter_leaves_closed_accounts_out(cohort, client, login) -> None:  # noqa: F811
    """The instructor's home's "and N more" overdue link opens the gradebook filtered to work
    overdue: both leave a closed account out, so their numbers agree. The gradebook still
    lists the learner (every learner), marked "account closed" as the roster does."""
    group = cohort["cohort"]
    before = gradebook(db.session, group, utcnow(), RowFilter.OVERDUE)
    assert cohort["idle"].id in {r.user.id for r in before.rows}  # the fixture: Ed Idle did nothing
    idle, zigzag = close_two(cohort)
    now = utcnow()

    overdue = gradebook(db.session, group, now, RowFilter.OVERDUE)
    today = instructor_today(db.session, cohort["instructor"].id, now)[0]
    assert {r.user.id for r in overdue.rows} == {b.id for b in today.overdue}
    assert overdue.paging.total == len(today.overdue) and idle.id not in {r.user.id for r in overdue.rows}
    assert idle.id not in {u.id for u in shown_learners(db.session, group, now, RowFilter.OVERDUE)}  # "every learner shown"
    every = gradebook(db.session, group, now)
    assert {r.user.id for r in every.rows} >= {idle.id, zigzag.id} and every.learners == 4
    assert next(r for r in every.rows if r.user.id == idle.id).overdue  # its cells still read overdue
    exported = export_rows(db.session, group, now, RowFilter.OVERDUE)
    assert "Ed Idle" not in {row[0] for row in exported.rows}

    login(client, cohort["instructor"])
    page = client.get(f"/cohorts/{group.id}/gradebook?show=overdue").get_data(as_text=True)
    assert "Ed Idle" not in page.split('id="gradebook"')[1].split("</table>")[0]
    page = client.get(f"/cohorts/{group.id}/gradebook").get_data(as_text=True)
    table_html = page.split('id="gradebook"')[1].split("</table>")[0]
    row = next(r for r in table_html.split("<tr ") if "Ed Idle" in r)
    assert "account closed" in row and table_html.count("account closed") == 2


def csv_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_every_export_of_learners_says_whose_account_is_closed(app, cohort, client, login) -> None:  # noqa: F811
    """The pages mark a closed account "account closed"; the exports said nothing of it, so
    a spreadsheet made from them chased learners nobody can reach. Each now has a column
    (CSV: yes or no, as its other flags) or a field (JSON: a boolean)."""
    group = cohort["cohort"]
    idle, zigzag = close_two(cohort)
    closed = {"Ed Idle", ERASED_NAME}
    assert zigzag.name == ERASED_NAME

    def flags(rows: list[dict[str, Any]], name: str, flag: str) -> dict[str, Any]:
        return {row[name]: row[flag] for row in rows}

    login(client, cohort["instructor"])
    gradebook_csv = csv_of(client.get(f"/cohorts/{group.id}/gradebook.csv"))
    assert list(gradebook_csv[0])[:4] == ["learner", "email", "at_risk", "account_closed"]
    assert flags(gradebook_csv, "learner", "account_closed") == {
        "Bo Early": "no", "Cy Late": "no", "Ed Idle": "yes", ERASED_NAME: "yes"}
    document = client.get(f"/cohorts/{group.id}/gradebook.json").get_json()
    assert document["columns"] == list(gradebook_csv[0])
    assert flags(document["rows"], "learner", "account_closed") == {
        "Bo Early": False, "Cy Late": False, "Ed Idle": True, ERASED_NAME: True}
    # at_risk is a JSON boolean as account_closed is (it was "yes"/"no"); the CSV keeps yes or no
    at_risk_csv = flags(gradebook_csv, "learner", "at_risk")
    at_risk_json = flags(document["rows"], "learner", "at_risk")
    assert all(isinstance(value, bool) for value in at_risk_json.values())
    assert {name: "yes" if value else "no" for name, value in at_risk_json.items()} == at_risk_csv

    heat_csv = csv_of(client.get(f"/cohorts/{group.id}/competency.csv"))
    assert list(heat_csv[0])[-4:] == ["mean", "at risk", "account closed", "reasons"]
    assert flags(heat_csv, "learner", "account closed") == {
        "Bo Early": "no", "Cy Late": "no", "Ed Idle": "yes", ERASED_NAME: "yes"}
    assert all(row["at risk"] == "no" for row in heat_csv if row["learner"] in closed)
    heat_json = client.get(f"/cohorts/{group.id}/competency.json").get_json(force=True)
    assert flags(heat_json["rows"], "name", "account_closed") == {
        "Bo Early": False, "Cy Late": False, "Ed Idle": True, ERASED_NAME: True}

    grades = csv_of(client.get(f"/cohorts/{group.id}/grades.csv"))
    assert list(grades[0])[:11] == ["learner", "email", "assignment", "module", "versions", "submitted_at", "late", "status",
                                    "score", "max_score", "account_closed"]
    assert {row["learner"] for row in grades} == {"Bo Early", "Cy Late", ERASED_NAME}  # Ed Idle handed nothing in
    assert all(row["account_closed"] == ("yes" if row["learner"] in closed else "no") for row in grades)

    admin = app.test_client()
    login(admin, cohort["admin"])
    org_csv = csv_of(admin.get(f"/organizations/{cohort['org'].id}/competency.csv"))
    assert flags(org_csv, "learner", "account closed") == flags(heat_csv, "learner", "account closed")
    org_json = admin.get(f"/organizations/{cohort['org'].id}/competency.json").get_json(force=True)
    assert flags(org_json["rows"], "name", "account_closed") == flags(heat_json["rows"], "name", "account_closed")


def test_the_organizations_cohort_table_says_how_many_learners_are_active(cohort, client, login, count_queries,  # noqa: F811
                                                                          make_cohort, enrol_learner) -> None:
    """The organization's page (and its admin's home) lists each cohort's learners as the
    cohort's page does: how many, and how many of them active and closed, counted in the
    same statement whatever the number of cohorts or closed accounts."""
    org, group = cohort["org"], cohort["cohort"]
    login(client, cohort["admin"])
    url = f"/organizations/{org.id}"
    client.get(url)
    before = count_queries(lambda: client.get(url))
    assert 'class="closed-count"' not in client.get(url).get_data(as_text=True)  # nobody closed: the figure alone

    close_two(cohort)
    other = make_cohort(org, "Acme 2", months_ago=2)
    gone = enrol_learner(other, name="Flo Gone")
    enrol_learner(other, name="Gus Here")
    deactivate(db.session, gone, gone.session_version, Origin(cohort["admin"].id, None))
    db.session.commit()
    for page in (client.get(url), client.get("/home")):
        rows = {r.split("</a>")[0].rsplit(">", 1)[1]: r for r in page.get_data(as_text=True).split("<tr><td><a ")[1:]}
        assert '<td class="learner-count">4 <span class="closed-count">(2 active, 2 with a closed account)</span></td>' \
            in rows[group.name]
        assert '<td class="learner-count">2 <span class="closed-count">(1 active, 1 with a closed account)</span></td>' \
            in rows["Acme 2"]
    assert count_queries(lambda: client.get(url)) == before  # one more cohort, closed accounts: no statement more

"""Follow-ups of the organization admin's pages: the cohorts side by side say how many learners
reach the bar beside a mean coloured by it, and list the cohorts in the organization page's
order; an active API token says so; certificate dates name their zone; the heat map's header
counts current learners only; an organization admin can see who else administers it."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from lms.api.tokens import create_token
from lms.catalog.models import Level, Objective
from lms.certificates.models import Certificate
from lms.cohorts.models import organization_admins
from lms.database import utcnow
from lms.extensions import db
from lms.progress.services import record
from tests.conftest import World


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_comparison_shows_the_share_at_the_bar_beside_a_mean(loaded: Flask, client, world: World, login,
                                                                enrol_learner) -> None:
    """Two learners at 4 and one at 1 on KO1 make a mean of 3 (coloured proficient) though one
    learner is below: the cell says 2 of 3 (67%) reach proficient, and the key what the colour
    means. The cohort's name and its certified learners link are set apart."""
    other = enrol_learner(world.cohort_a, name="Learner Three")
    third = enrol_learner(world.cohort_a, name="Learner Four")
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    for user, level in ((world.learner_a, 1.0), (other, 1.0), (third, 0.25)):
        for n in range(2):
            record(db.session, user.id, ko1.id, "quiz", f"q{n}", level, utcnow() - timedelta(days=2 - n))
    db.session.commit()
    login(client, world.org_admin_a)
    html = page(client.get(f"/organizations/{world.org_a.id}/competency"))
    row = re.search(rf'<tr data-cohort="{world.cohort_a.id}">(.*?)</tr>', html, re.S).group(1)
    cell = re.search(r'<td class="heat heat-(\d)" data-level="[^"]*" data-at-bar="(\d+)"\s+title="KO1 mean: ([^"]*)">(.*?)</td>', row, re.S)
    assert cell.group(1) == "3" and cell.group(2) == "2"  # proficient mean; two learners at the bar
    assert "2 of 3 learners at proficient or above" in cell.group(3)
    assert '<span class="at-bar small">67%' in cell.group(4)
    assert 'id="colour-key"' in html and "not of every learner" in html
    assert re.search(r'Alpha 1</a>\s*<span class="muted" aria-hidden="true">·</span> <a class="small"', row)
    # The organization page's order: newest first, on both pages.
    org_page = page(client.get(f"/organizations/{world.org_a.id}"))
    assert org_page.index("Alpha 2") < org_page.index("Alpha 1")
    assert html.index(f'data-cohort="{world.cohort_a2.id}"') < html.index(f'data-cohort="{world.cohort_a.id}"')


def test_an_active_token_says_so_and_certificate_dates_name_their_zone(loaded: Flask, client, world: World, login) -> None:
    create_token(db.session, world.org_admin_a, "HR", ["read:people"], None, world.org_a)
    level = db.session.scalars(select(Level)).first()
    db.session.add(Certificate(user_id=world.learner_a.id, level_id=level.id, code="zone-test", holder_name="Learner A",
                               issued_at=utcnow()))
    world.org_admin_a.timezone = "Asia/Tokyo"
    db.session.commit()
    login(client, world.org_admin_a)
    tokens = page(client.get(f"/organizations/{world.org_a.id}/api-tokens"))
    assert re.search(r"<td>Active\s*<details class=\"confirm revoke-token\">", tokens)
    certified = page(client.get(f"/cohorts/{world.cohort_a.id}/certificates"))
    assert "Dates are days in your time zone, Asia/Tokyo." in certified


def test_the_heat_map_header_counts_current_learners(loaded: Flask, client, world: World, login, enrol_learner) -> None:
    gone = enrol_learner(world.cohort_a, name="Gone Learner")
    gone.deactivated_at = utcnow()
    db.session.commit()
    login(client, world.org_admin_a)
    html = page(client.get(f"/cohorts/{world.cohort_a.id}/competency"))
    assert "1 learner (and 1 closed account, marked in the map) ·" in html


def test_an_organization_admin_sees_who_else_administers_it(app: Flask, client, world: World, login, make_user) -> None:
    """Read only, from the organization page: names, emails and since when; another
    organization's admins are not on it."""
    second = make_user(name="Zed Second", email="zed@alpha.example")
    world.org_a.admins.append(second)
    db.session.commit()
    db.session.execute(update(organization_admins).where(organization_admins.c.user_id == world.org_admin_a.id)
                       .values(added_at=None))
    db.session.commit()
    login(client, world.org_admin_a)
    assert f'href="/organizations/{world.org_a.id}/admins"' in page(client.get(f"/organizations/{world.org_a.id}"))
    html = page(client.get(f"/organizations/{world.org_a.id}/admins"))
    table = html[html.index('id="org-admins"'):]
    assert "Org Admin A" in table and "Zed Second" in table and "zed@alpha.example" in table
    assert "Org Admin B" not in table and "<form" not in table
    assert "not recorded" in table and utcnow().strftime("%d %b %Y") in table
    assert client.get(f"/organizations/{world.org_b.id}/admins").status_code in (403, 404)

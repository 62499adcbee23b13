"""In Chromium, a team project from both sides: learners start and join a team, write and
hand in one submission together and rate each other's contribution; the instructor forms
another team, grades the first one's work once with the rubric, reads the contributions
and adjusts one member's grade with a note; that member reads their grade and the note."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lms.coursework.services import get_assignment
from lms.database import utcnow
from lms.extensions import db
from lms.progress.models import Evidence
from lms.teams.services import add_member, create_team
from tests.browser.test_browser import follow, sign_in, signed_in_page

pytestmark = pytest.mark.browser

KEY = "intl-hands-on-entry-plan"
TITLE = "Team project: plan one company's next international step"


def test_team_project_journeys(server_url: str, load_content, make_cohort, enrol_learner, make_user, browser,
                               tmp_path: Path) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(name="Founders 2026", months_ago=9, instructors=[teacher])
    ana = enrol_learner(cohort, email="ana@example.com", name="Ana Founder")
    ben = enrol_learner(cohort, email="ben@example.com", name="Ben Founder")
    enrol_learner(cohort, email="cy@example.com", name="Cy Founder")
    enrol_learner(cohort, email="dee@example.com", name="Dee Founder")
    memo = tmp_path / "market-memo.pdf"
    memo.write_bytes(b"%PDF-1.4 memo")

    def as_person(email: str):  # a fresh browser context, signed in
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, server_url, email)
        return context, page

    # Ana starts a team from the assignment page
    context, page = as_person(ana.email)
    page.goto(f"{server_url}/assignments/{KEY}")
    page.get_by_role("link", name="Your team and its work").click()
    page.get_by_label("Team name").fill("Harbour")
    page.get_by_role("button", name="Start a team").click()
    page.get_by_text("You started Harbour.").wait_for()
    context.close()

    # Ben joins it
    context, page = as_person(ben.email)
    page.goto(f"{server_url}/assignments/{KEY}/team")
    page.get_by_role("button", name="Join Harbour").click()
    page.get_by_text("You joined Harbour.").wait_for()
    assert "Ana Founder" in page.locator("main").inner_text()
    context.close()

    # The instructor forms a second team for Cy and Dee
    context, page = as_person(teacher.email)
    page.goto(f"{server_url}/assignments/{KEY}")
    page.get_by_role("link", name="Teams in Founders 2026").click()
    page.get_by_label("New team's name").fill("Delta")
    page.get_by_role("button", name="Create team").click()
    page.get_by_text("Delta created").wait_for()
    for name in ("Cy Founder", "Dee Founder"):
        page.locator("#add-" + page.locator("section.team", has_text="Delta").get_attribute("id").split("-")[1]).select_option(label=name)
        page.get_by_role("button", name="Add to Delta").click()
        page.get_by_text(f"{name} added to Delta.").wait_for()
    assert "Everyone is in a team." in page.locator("main").inner_text()
    context.close()

    # Ana writes the plan with a file and hands it in for the team
    context, page = as_person(ana.email)
    page.goto(f"{server_url}/assignments/{KEY}/team")
    page.get_by_label("The team's answer (Markdown)").fill("## Market choice\nPortugal first: three inbound leads.")
    page.get_by_label("Attach a file").set_input_files(str(memo))
    page.get_by_role("button", name="Save the team's draft").click()
    page.get_by_text("The team's draft is saved.").wait_for()
    page.get_by_role("button", name="Hand in for the team").click()
    page.get_by_text("Version 1 handed in for the team").wait_for()
    page.locator("fieldset.rating", has_text="Ben Founder").get_by_label("2").check()
    page.get_by_label("Comment (optional)").fill("Ben missed the data-map sessions.")
    page.get_by_role("button", name="Save ratings").click()
    page.get_by_text("1 rating saved.").wait_for()
    context.close()

    # Ben sees the handed-in version and the file, and rates Ana
    context, page = as_person(ben.email)
    page.goto(f"{server_url}/assignments/{KEY}/team")
    assert page.get_by_role("link", name="market-memo.pdf").count() == 1
    assert "Version 1" in page.locator("main").inner_text()
    page.locator("fieldset.rating", has_text="Ana Founder").get_by_label("5").check()
    page.get_by_role("button", name="Save ratings").click()
    page.get_by_text("1 rating saved.").wait_for()
    assert "missed the data-map" not in page.locator("main").inner_text()
    context.close()

    # The instructor grades the team's work once, reads the contributions and adjusts Ben's grade
    context, page = as_person(teacher.email)
    page.goto(f"{server_url}/assignments/{KEY}")
    page.get_by_role("link", name="Teams in Founders 2026").click()
    page.locator("section.team", has_text="Harbour").get_by_role("link", name="Grade the team's work").click()
    assert "Portugal first" in page.locator("article").inner_text()
    for criterion in page.locator("fieldset.criterion").all():
        criterion.locator("input[type=radio]").nth(1).check()
    page.get_by_label("Overall feedback").fill("A credible plan; cost the second region.")
    page.get_by_role("button", name="Release to learner").click()
    page.get_by_text("Grade released to the learner.").wait_for()
    page.goto(f"{server_url}/cohorts/{cohort.id}/assignments/{KEY}/teams")
    page.locator("section.team", has_text="Harbour").get_by_role("link", name="Contributions and adjustments").click()
    ben_card = page.locator(f"#member-{ben.id}")
    assert "2 from Ana Founder" in ben_card.inner_text() and "missed the data-map" in ben_card.inner_text()
    ben_card.get_by_label("Adjustment (points, + or -)").fill("-2")
    ben_card.get_by_label("Note to the learner (required)").fill("Ratings and the draft history show a smaller share.")
    ben_card.get_by_role("button", name="Save adjustment for Ben Founder").click()
    page.get_by_text("Adjustment saved").wait_for()
    context.close()

    # Ben reads the team's grade, his own and the note; his evidence uses the adjusted grade
    context, page = as_person(ben.email)
    page.goto(f"{server_url}/assignments/{KEY}")
    follow(page, page.get_by_role("link", name="Your team and its work"))
    text = page.locator("main").inner_text()
    assert "The team's grade" in text and "(-2 points from the team's)" in text
    assert "Ratings and the draft history show a smaller share." in text and "A credible plan" in text
    context.close()
    db.session.expire_all()
    notes = {e.note for e in db.session.scalars(select(Evidence).where(Evidence.user_id == ben.id))}
    assert any("adjusted -2 points" in n for n in notes)
    assert all("adjusted" not in e.note for e in db.session.scalars(select(Evidence).where(Evidence.user_id == ana.id)))
    assert TITLE in {e.note for e in db.session.scalars(select(Evidence).where(Evidence.user_id == ana.id))}


def test_back_to_the_team_page_shows_the_draft_as_it_now_stands(server_url: str, load_content, make_cohort,
                                                                 enrol_learner, browser) -> None:
    """Ana saves the team's draft, Ben saves over it, Ana goes back a page: the browser must
    not put back what she had typed over the page (the server sends Ben's draft and its
    revision), or saving that page would replace Ben's draft unseen. The team's work form
    asks the browser not to restore its fields, as the grading form does."""
    load_content()
    cohort = make_cohort(name="Founders 2026", months_ago=9)
    ana = enrol_learner(cohort, email="ana@example.com", name="Ana Founder")
    ben = enrol_learner(cohort, email="ben@example.com", name="Ben Founder")
    team = create_team(db.session, get_assignment(db.session, KEY), cohort.id, "Harbour", ana, utcnow(), as_learner=True)
    add_member(db.session, team, ben, utcnow())
    db.session.commit()
    url = f"{server_url}/assignments/{KEY}/team"

    first, second = browser.new_context(), browser.new_context()
    mine, theirs = first.new_page(), second.new_page()
    sign_in(mine, server_url, ana.email)
    sign_in(theirs, server_url, ben.email)
    mine.goto(url)
    mine.get_by_label("The team's answer (Markdown)").fill("Ana's first plan.")
    mine.get_by_role("button", name="Save the team's draft").click()
    mine.get_by_text("The team's draft is saved.").wait_for()

    theirs.goto(url)
    theirs.get_by_label("The team's answer (Markdown)").fill("Ben's newer plan.")
    theirs.get_by_role("button", name="Save the team's draft").click()
    theirs.get_by_text("The team's draft is saved.").wait_for()

    mine.go_back()
    mine.wait_for_load_state()
    assert mine.get_by_label("The team's answer (Markdown)").input_value() == "Ben's newer plan."
    first.close()
    second.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_refused_rename_keeps_its_button_on_the_line_of_its_input(server_url: str, load_content, make_cohort,
                                                                    make_user, browser, width: int) -> None:
    """Staff rename a team to another team's name: the refusal shows under the input, and the
    Rename button stays centred on the input (the message below it pushed the button down to
    its own bottom edge), within the page's width, at 1280 px and at 390 px."""
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(name="Founders 2026", months_ago=9, instructors=[teacher])
    assignment = get_assignment(db.session, KEY)
    for name in ("Harbour", "Delta"):
        create_team(db.session, assignment, cohort.id, name, teacher, utcnow())
    db.session.commit()
    context, page = signed_in_page(browser, server_url, teacher.email, width, 900)
    page.goto(f"{server_url}/cohorts/{cohort.id}/assignments/{KEY}/teams")
    card = page.locator("section.team", has_text="Delta")
    card.get_by_label("New name").fill("Harbour")
    card.get_by_role("button", name="Rename Delta").click()
    card = page.locator("section.team", has_text="Rename Delta")
    message = card.locator(".team-rename .error")
    message.wait_for()
    assert "There is already a team called 'Harbour'" in message.inner_text()
    field, button = card.get_by_label("New name"), card.get_by_role("button", name="Rename Delta")
    box, pressed, said = field.bounding_box(), button.bounding_box(), message.bounding_box()
    assert box and pressed and said
    assert abs((box["y"] + box["height"] / 2) - (pressed["y"] + pressed["height"] / 2)) <= 2, (box, pressed)
    assert said["y"] >= box["y"] + box["height"], "the refusal sits under the input"
    assert pressed["x"] >= box["x"] + box["width"], "the button beside the input"
    assert max(box["x"] + box["width"], pressed["x"] + pressed["width"], said["x"] + said["width"]) <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()

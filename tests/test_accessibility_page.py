"""The accessibility statement: open to everyone, linked from the foot of every page, and
saying how to get more time on timed quizzes (lms/web/templates/accessibility.html)."""

from __future__ import annotations

from flask import Flask

from lms.cohorts.models import TimeAllowance


def test_the_statement_is_open_to_everyone_and_linked_from_every_page(app: Flask, client, make_user, login) -> None:
    page = client.get("/accessibility")
    text = " ".join(page.get_data(as_text=True).split())  # as read: the lines joined
    assert page.status_code == 200 and "<h1>Accessibility</h1>" in text
    assert "WCAG) 2.2 at levels A and AA" in text and "320 pixels wide" in text
    # what a learner who needs more time can have: the allowances staff can give (a new one
    # fails here until the statement names it)
    assert [a.label for a in TimeAllowance] == ["standard time", "25% extra time", "50% extra time", "double time",
                                                "no time limit"]
    assert "25% or 50% extra time, double time or no limit" in text
    assert "read out by screen readers when five minutes are left and again at one" in text  # attempt_timer.js's warnings
    assert 'href="/accessibility">Accessibility</a>' in client.get("/login").get_data(as_text=True)
    login(client, make_user())
    assert 'href="/accessibility">Accessibility</a>' in client.get("/home").get_data(as_text=True)

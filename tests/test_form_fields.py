"""A form field's help text and errors are tied to its control (``_forms.html``'s ``field``):
``aria-describedby`` names each by id and ``aria-invalid`` says the field has errors, so a
screen reader reads the message when it reaches the field (WCAG 1.3.1, 3.3.1)."""

from __future__ import annotations

from html.parser import HTMLParser

from flask import Flask, flash, render_template_string
from flask_wtf import FlaskForm

from lms.accounts.forms import NewPasswordForm
from lms.cohorts.forms import pace_field


class Elements(HTMLParser):
    """Each element with an id, by id; and the attributes of each input."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.inputs[str(found["name"])] = found
        if found.get("id"):
            self._open = str(found["id"])
            self.ids[self._open] = ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.ids[self._open] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def described(page: Elements, name: str) -> list[str]:
    """What the input ``name`` is described by, as the texts of the elements it names."""
    ids = (page.inputs[name].get("aria-describedby") or "").split()
    return [page.ids[i].strip() for i in ids]  # a KeyError: it names an element the page lacks


def test_help_and_errors_are_named_by_the_field_they_belong_to(app: Flask) -> None:
    with app.test_request_context():
        form = NewPasswordForm(data={"password": "short", "confirm": "other"})
        assert not form.validate()
        html = render_template_string('{% from "_forms.html" import field %}{{ field(form.password) }}{{ field(form.confirm) }}',
                                      form=form)
    page = Elements()
    page.feed(html)
    assert page.inputs["password"]["aria-invalid"] == "true"
    assert described(page, "password")[0].startswith("At least") and "characters" in described(page, "password")[1]
    assert page.inputs["confirm"]["aria-invalid"] == "true"
    assert described(page, "confirm") == ["The two passwords differ."]


def test_a_valid_field_without_help_names_nothing(app: Flask) -> None:
    with app.test_request_context():
        form = NewPasswordForm(data={"password": "long enough password", "confirm": "long enough password"})
        assert form.validate()
        html = render_template_string('{% from "_forms.html" import field %}{{ field(form.confirm) }}', form=form)
    page = Elements()
    page.feed(html)
    assert page.inputs["confirm"]["aria-invalid"] == "false"
    assert "aria-describedby" not in page.inputs["confirm"]


def test_the_sign_in_page_ties_its_error_to_the_email_field(client) -> None:
    response = client.post("/login", data={"email": "", "password": ""})
    page = Elements()
    page.feed(response.get_data(as_text=True))
    assert page.inputs["email"]["aria-invalid"] == "true"
    assert described(page, "email") and all(text for text in described(page, "email"))


class Summary(HTMLParser):
    """The page's error summary: whether it takes the focus, its title, and each link's
    target and text; and the elements in the page's order that carry ``autofocus``."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: dict[str, str | None] | None = None
        self.title = ""
        self.links: list[tuple[str, str]] = []
        self.autofocus: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "autofocus" in found:
            self.autofocus.append(str(found.get("id") or found.get("class")))
        if "error-summary" in (found.get("class") or "").split():
            self.attributes = found
        elif self.attributes is not None and tag == "h2" and not self.title:
            self._in = "title"
        elif self.attributes is not None and tag == "a" and self._in != "done":
            self.links.append((str(found["href"]), ""))
            self._in = "link"

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "link":
            self.links[-1] = (self.links[-1][0], self.links[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self.attributes is not None:
            self._in = "done"
        elif self._in in ("title", "link"):
            self._in = None


def test_a_refused_form_opens_on_a_summary_of_its_problems(client) -> None:
    """Before: the sign-in page sent empty came back with the focus in the email field, and
    only the errors under each field said what went wrong (a screen reader did not say the
    form had been refused). Now a summary above the form takes the focus first, names
    each problem with its field's label and links to that field."""
    response = client.post("/login", data={"email": "", "password": ""})
    summary = Summary()
    summary.feed(response.get_data(as_text=True))
    assert summary.attributes is not None, "no error summary"
    assert summary.attributes.get("tabindex") == "-1"
    assert summary.autofocus[0] == "error-summary", f"the focus goes first to {summary.autofocus}"
    assert summary.title == "2 problems to put right"
    assert "<title>Error: Sign in · lms</title>" in response.get_data(as_text=True)  # the first words read of the page
    assert summary.links == [("#email", "Email: This field is required."), ("#password", "Password: This field is required.")]
    fields = Elements()
    fields.feed(response.get_data(as_text=True))
    assert {"email", "password"} <= set(fields.ids)  # each link leads to its field


def test_a_form_shown_for_the_first_time_has_no_summary(client) -> None:
    summary = Summary()
    summary.feed(client.get("/login").get_data(as_text=True))
    assert summary.attributes is None
    assert summary.autofocus == ["email"]
    assert "<title>Sign in · lms</title>" in client.get("/login").get_data(as_text=True)


def test_a_list_of_radios_is_summarised_by_its_first_option(app: Flask) -> None:
    with app.test_request_context(method="POST", data={"pace": "nonsense"}):
        class PaceForm(FlaskForm):
            pace = pace_field()

        form = PaceForm(meta={"csrf": False})
        assert not form.validate()
        html = render_template_string('{% from "_forms.html" import field %}{{ field(form.pace) }}{{ noted_field_errors()[0].target }}',
                                      form=form)
    assert html.rstrip().endswith("pace-0") and 'id="pace-0"' in html


def test_fields_asking_for_the_person_own_details_say_so_to_the_browser(client, make_user, login) -> None:
    """WCAG 1.3.5 (identify input purpose): the browser and assistive technology know a
    field asks for the person's own email, name or password, and fill it in or mark it."""
    page = Elements()
    page.feed(client.get("/login").get_data(as_text=True))
    assert page.inputs["email"]["autocomplete"] == "username"
    assert page.inputs["password"]["autocomplete"] == "current-password"
    page = Elements()
    page.feed(client.get("/password/forgot").get_data(as_text=True))
    assert page.inputs["email"]["autocomplete"] == "email"
    login(client, make_user())
    page = Elements()
    page.feed(client.get("/account").get_data(as_text=True))
    assert page.inputs["profile-name"]["autocomplete"] == "name"
    assert page.inputs["password-current"]["autocomplete"] == "current-password"
    assert page.inputs["password-password"]["autocomplete"] == "new-password"
    assert page.inputs["password-confirm"]["autocomplete"] == "new-password"


def test_an_error_flashed_to_the_next_page_takes_the_focus_and_a_success_does_not(app: Flask) -> None:
    """A message already on the page as it opens is not read out by a screen reader (a status
    or alert is read when it appears): an error the page opens with takes the focus."""
    with app.test_request_context():
        flash("Nothing was sent: the list is empty.", "error")
        flash("Saved.", "success")
        html = render_template_string('{% extends "base.html" %}{% block content %}<h1>A page</h1>{% endblock %}')
    summary = Summary()
    summary.feed(html)
    assert summary.autofocus == ["flash flash-error"]
    assert '<p class="flash flash-error" role="status" tabindex="-1" autofocus>Nothing was sent: the list is empty.</p>' in html
    assert '<p class="flash flash-success" role="status">Saved.</p>' in html

"""A form field's help text and errors are tied to its control (``_forms.html``'s ``field``):
``aria-describedby`` names each by id and ``aria-invalid`` says the field has errors, so a
screen reader reads the message when it reaches the field (WCAG 1.3.1, 3.3.1)."""

from __future__ import annotations

from html.parser import HTMLParser

from flask import Flask, render_template_string

from lms.accounts.forms import NewPasswordForm


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

"""Every download names its file through one helper, per RFC 6266 (issue 17 point 1): a
cohort or file name outside Latin-1, with CR/LF or a double quote, gives a 200 with a safe
ASCII ``filename`` and the full name in ``filename*=UTF-8''...``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from flask import Flask

from lms.coursework.models import Attachment
from lms.extensions import db
from lms.web.downloads import content_disposition, export_name, shortened, slug
from tests.conftest import World
from tests.test_access import route_extras

HOSTILE = 'Cohorte Ünïcode 日本 "quoted"\r\nX-Injected: yes'
# disposition; filename="ascii"[; filename*=UTF-8''pct-encoded]
HEADER = re.compile(r"""^(attachment|inline); filename="([A-Za-z0-9 ._()+,=@-]+)"(?:; filename\*=UTF-8''([A-Za-z0-9%!#$&+\-.^_`|~]+))?$""")


def parse(value: str) -> tuple[str, str, str | None]:
    match = HEADER.match(value)
    assert match, value
    disposition, fallback, extended = match.groups()
    return disposition, fallback, unquote(extended, errors="strict") if extended else None


@pytest.mark.parametrize(("name", "fallback", "full"), [
    ("model-card.md", "model-card.md", None),
    ("Ünï.txt", "Uni.txt", "Ünï.txt"),
    ('a "b".csv', "a _b_.csv", 'a "b".csv'),
    ("grades-日本.csv", "grades-__.csv", "grades-日本.csv"),
    ("line\r\nbreak.csv", "line break.csv", None),
    ("../../etc/passwd", "-..-etc-passwd", None),
    ("a;b%c\\d.txt", "a_b_c-d.txt", "a;b%c-d.txt"),
    ("\r\n", "download", None),
])
def test_the_helper_gives_an_ascii_name_and_the_full_name(name: str, fallback: str, full: str | None) -> None:
    assert parse(content_disposition(name)) == ("attachment", fallback, full)
    assert parse(content_disposition(name, inline=True))[0] == "inline"


def test_downloads_of_a_cohort_with_a_hostile_name_answer_200(app: Flask, client, loaded, world: World, login) -> None:
    extra = route_extras(app, world)
    world.cohort_a.name = HOSTILE
    db.session.get(Attachment, extra["attachment_id"]).filename = 'plan "final" Ünï\r\n日本.txt'
    db.session.commit()
    login(client, world.admin)
    cohort = world.cohort_a.id
    for url in (f"/cohorts/{cohort}/grades.csv", f"/cohorts/{cohort}/competency.csv", f"/cohorts/{cohort}/competency.json",
                f"/attachments/{extra['attachment_id']}", "/templates/model-card/download"):
        response = client.get(url)
        assert response.status_code == 200, url
        disposition, fallback, full = parse(response.headers["Content-Disposition"])
        assert disposition == "attachment", url
        assert "X-Injected" not in response.headers
        if "grades" in url:
            assert full is not None and full.startswith("grades-cohorte-ünïcode-日本-quoted-x-injected-yes-")
            assert fallback.startswith("grades-cohorte-unicode-__-quoted-x-injected-yes-")
        if "attachments" in url:
            assert full == 'plan "final" Ünï 日本.txt' and fallback == "plan _final_ Uni __.txt"
        response.close()


def test_an_exports_name_is_its_kind_the_slugs_of_what_it_is_of_and_the_day() -> None:
    day = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert export_name("gradebook", "Northwind cohort 1", day=day, extension="csv") == "gradebook-northwind-cohort-1-20261206.csv"
    assert export_name("submissions", "Gruppe Zürich 東京", "impl_case", day=day, extension="zip") == (
        "submissions-gruppe-zürich-東京-impl-case-20261206.zip")
    assert slug(" --- ") == "download" and slug("A/B\\C..D") == "a-b-c-d"


@pytest.mark.parametrize(("name", "chars", "utf8_bytes", "cut"), [
    ("plan.pdf", 120, 200, "plan.pdf"),
    ("a" * 300 + ".pdf", 120, None, "a" * 116 + ".pdf"),
    ("é" * 200 + ".pdf", None, 200, "é" * 98 + ".pdf"),  # 196 + 4 bytes: never half a letter
    ("📄" * 100 + ".txt", None, 201, "📄" * 49 + ".txt"),
    ("x" * 300, 10, None, "x" * 10),  # no extension
    ("notes.averyveryverylongextension", 10, None, "notes.aver"),  # not an extension: cut as a whole
    ("ab  " + "c" * 20 + ".md", 7, None, "ab.md"),
])
def test_a_name_is_cut_to_its_characters_and_bytes_keeping_its_extension(name, chars, utf8_bytes, cut) -> None:
    assert shortened(name, chars=chars, utf8_bytes=utf8_bytes) == cut

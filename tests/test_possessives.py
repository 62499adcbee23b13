"""No possessive is built from a name: "Northwind Ventures's data" reads wrong, and a name
ending in s (or in a quote) has no right way to take "'s". Sentences say "the data of
Northwind Ventures" instead, in templates and in the messages the code writes."""

from __future__ import annotations

import re
from pathlib import Path

from lms.extensions import db

LMS = Path(__file__).resolve().parent.parent / "lms"
# "'s" right after a value put into text: {{ x }}'s, {x}'s in an f-string, x ~ "'s ..." in Jinja.
POSSESSIVE = re.compile(r"""\}\}\s*['’]s\b|\}['’]s\b|~\s*["']['’]s\b""")


def test_no_possessive_is_appended_to_a_name() -> None:
    found = [f"{path.relative_to(LMS.parent)}:{n}: {line.strip()}"
             for path in sorted([*LMS.rglob("*.html"), *LMS.rglob("*.py"), *LMS.rglob("*.txt")])
             for n, line in enumerate(path.read_text().splitlines(), 1) if POSSESSIVE.search(line)]
    assert found == []


def test_the_api_tokens_page_names_the_organization_without_a_possessive(app, client, login, make_org,
                                                                         make_user) -> None:
    admin = make_user()
    org = make_org("Northwind Ventures", admins=[admin])
    db.session.commit()
    login(client, admin)
    page = client.get(f"/organizations/{org.id}/api-tokens").get_data(as_text=True)
    assert "An organization token sees the data of Northwind Ventures only" in page
    assert "Ventures&#39;s" not in page and "Ventures's" not in page

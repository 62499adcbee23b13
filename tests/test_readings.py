"""Further reading: each module lists public sources (title, author, year, https link,
one line on why), and so may each lesson (a weekly unit) for its own week; both are
validated by the loader with file and line, shown on their page and counted by
``flask lms content-stats`` (a module's in its first month, a lesson's in its month)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from lms.catalog.models import Lesson, Module
from lms.extensions import db

MODULE = "modules/mlops/module.yml"
SHIPPED = Path(__file__).resolve().parent.parent / "content" / "modules"
# A weekly unit that ships two readings, and one (of the same module) that ships none.
LESSON = "modules/mlops/lessons/05-feature-pipelines-and-drift.md"
LESSON_KEY = "mlops-feature-pipelines-drift"
BARE_LESSON = "modules/mlops/lessons/01-release-pipeline-and-registry.md"


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def first_reading(content_dir: Path) -> tuple[Path, str, int]:
    """The mlops module file, its text and the line of the first reading's ``year``."""
    path = content_dir / MODULE
    text = path.read_text()
    lines = text.splitlines()
    start = lines.index("readings:")
    year_line = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("year:"))
    return path, text, year_line + 1


BAD = {
    # case: (old, new, message fragment, field whose line is reported)
    "http link": ("url: https://papers.nips.cc", "url: http://papers.nips.cc", "https:// address", "url"),
    "not a web address": ("url: https://papers.nips.cc/paper/5656-hidden-technical-debt-in-machine-learning-systems",
                          "url: https://papers nips", "well-formed web address", "url"),
    "year too early": ("year: 2015", "year: 1066", "greater than or equal to 1900", "year"),
    "year in the future": ("year: 2015", "year: 2099", "less than or equal to 2030", "year"),
    "year as words": ("year: 2015", "year: twenty fifteen", "valid integer", "year"),
    "missing author": ("    author: \"D. Sculley et al., NeurIPS\"\n", "", "missing (required)", "-"),
}


def assert_refused_at(app: Flask, path: Path, message: str, field: str) -> None:
    """``--check`` refuses the first reading of ``path`` with ``message``, at the line of ``field``
    (``-``: a missing field, reported at its reading's first line)."""
    result = invoke(app, "--check")
    assert result.exit_code == 1
    found = re.search(rf"{re.escape(str(path))}:(\d+): (readings\[0\][^\n]*)", result.output)
    assert found, result.output
    assert message in found.group(2), result.output
    line = path.read_text().splitlines()[int(found.group(1)) - 1].strip()
    assert line.startswith(f"{field}:" if field != "-" else "- title:"), line


@pytest.mark.parametrize("case", sorted(BAD))
def test_an_incomplete_or_bad_reading_is_refused_with_file_and_line(app: Flask, content_dir: Path, case: str) -> None:
    old, new, message, field = BAD[case]
    path = content_dir / MODULE
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))

    assert_refused_at(app, path, message, field)


def test_a_why_of_more_than_one_line_is_refused(app: Flask, content_dir: Path) -> None:
    path = content_dir / MODULE
    text = path.read_text()
    old = '    why: "Names the ways'
    assert old in text
    path.write_text(text.replace(old, '    why: "Two lines:\\nnames the ways', 1))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(path))}:\d+: readings\[0\]\.why: Value error, must be one line", result.output), result.output


def test_the_same_link_twice_in_a_module_is_refused(app: Flask, content_dir: Path) -> None:
    path = content_dir / MODULE
    text = path.read_text()
    path.write_text(text.replace("https://ai.google/research/pubs/pub48120/",
                                 "https://papers.nips.cc/paper/5656-hidden-technical-debt-in-machine-learning-systems", 1))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(path))}:\d+: duplicate reading 'https://papers\.nips\.cc/", result.output), result.output


def assert_complete(readings: list[dict], where: str) -> None:
    """Each reading of one list has all five fields, an https link of its own, a plausible year, one line on why."""
    assert len({r["url"] for r in readings}) == len(readings), where
    for reading in readings:
        assert set(reading) == {"title", "author", "year", "url", "why"}, reading
        assert urlsplit(reading["url"]).scheme == "https" and urlsplit(reading["url"]).hostname, reading
        assert 1900 <= reading["year"] <= 2030
        assert "\n" not in reading["why"].strip() and len(reading["why"]) <= 240


def test_shipped_modules_list_at_least_five_complete_https_readings() -> None:
    folders = sorted(p for p in SHIPPED.iterdir() if (p / "module.yml").exists())
    assert len(folders) == 6
    total = 0
    for folder in folders:
        readings = yaml.safe_load((folder / "module.yml").read_text()).get("readings", [])
        assert len(readings) >= 5, folder.name
        assert_complete(readings, folder.name)
        total += len(readings)
    assert total >= 30


# Every address a shipped reading links to, each found as a stored page by the research
# search tool when it was added (a tracking parameter dropped where the stored copy had one).
# Add an address here only once you have found that page yourself: a link nobody opened is
# how a reading ends at a "page not found" or at something other than its title.
CONFIRMED = {
    "https://papers.nips.cc/paper/5656-hidden-technical-debt-in-machine-learning-systems",
    "https://cloud.google.com/architecture/mlops-continuous-delivery-and-automation-pipelines-in-machine-learning",
    "https://ai.google/research/pubs/pub48120/",
    "https://conf42.com/Site_Reliability_Engineering_2022_Ramon_Medrano_Llamas_postmortem_culture_google",
    "https://microsoft.com/en-us/research/publication/software-engineering-for-machine-learning-a-case-study/?lang=fr_ca",
    "https://www.semanticscholar.org/paper/The-one-number-you-need-to-grow.-Reichheld/53ddafe17cfe0bcbf0932e454cf6fcc627c68380",
    "https://oreilly.com/library/view/harvard-business-review/9781422171967/chapter001.html",
    "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=LEGISSUM%3A4762484",
    "https://www.activemind.legal/gesetze/dsgvo/",
    "https://doi.org/10.6028/NIST.AI.100-1",
    "https://www.mccannfitzgerald.com/knowledge/privacy/edpb-publishes-recommendations-on-international-data-transfers-following-schrems-ii",
    "https://ec.europa.eu/info/study-data-protection-certification-mechanisms_fi",
    "https://www.w3.org/International/techniques/developing-specs",
    "https://maintenanceworld.com/2014/08/26/leading-change-transformation-efforts-fail/",
    "https://github.com/dora-team/fourkeys",
    "https://cloud.google.com/architecture/framework/reliability",
    "https://omg.org/spec/BPMN/2.0",
    "https://pubs.opengroup.org/architecture/o-aa-standard/lean-value-stream.html",
    "https://research.google.com/pubs/pub45742.html",
    "https://doi.org/10.48550/arXiv.1803.09010",
    # Lesson readings (months 6 and 8-12), each found by the search tool in the session that added
    # it; the query that found it is given (corpus in brackets).
    # "scikit-learn TimeSeriesSplit time series cross-validation documentation" [docs]
    "https://www.scikit-learn.org/stable/modules/generated/sklearn.model_selection.TimeSeriesSplit.html",
    # "Unicode CLDR common locale data repository date number currency formats" [docs]
    "https://learn.microsoft.com/globalization/reference/cldr",
    # "Data Validation for Machine Learning Breck Polyzotis Roy Whang Zinkevich SysML 2019" [pages]
    "https://proceedings.mlsys.org/paper/2019/hash/5878a7ab84fb43402106c575658472fa",
    # "Feast feature store point-in-time joins documentation" [docs]
    "https://docs.feast.dev/v0.67-branch/getting-started/concepts/point-in-time-joins",
    # "AICPA SOC 2 trust services criteria security availability confidentiality" [pages]
    "https://www.aicpa-cima.com/resources/download/get-the-2017-trust-services-criteria",
    # "IEEE Task Force on Process Mining manifesto guiding principles event data first-class citizens" [docs]
    "https://docs.uipath.com/process-mining/automation-cloud/latest/user-guide/designing-an-event-log.md",
    # "hbr.org The Surprising Power of Online Experiments Kohavi Thomke 2017" [pages]
    "https://hbr.org/2017/09/the-surprising-power-of-online-experiments",
    # "sre.google workbook implementing SLOs" [pages]
    "https://landing.google.com/sre/resources/practicesandprocesses/art-of-slos/",
    # "hbr.org Know Your Customers' Jobs to Be Done Christensen 2016" [pages]
    "https://www.hbs.edu/faculty/Pages/item.aspx?num=51553",
    # "online controlled experiments Kohavi surprising power of online experiments" [pages]
    "https://www.researchgate.net/publication/339914315_Trustworthy_Online_Controlled_Experiments_A_Practical_Guide_to_AB_Testing",
    # "Baldrige Excellence Framework NIST performance excellence criteria" [pages]
    "https://www.nist.gov/baldrige/baldrige-faqs-baldrige-excellence-framework-and-criteria",
    # "Prosci ADKAR Model five building blocks individual change prosci.com methodology" [pages]
    "https://www.prosci.com/adkar/change-management-methodology-overview",
    "https://www.prosci.com/resources/articles/the-importance-of-integrating-individual-and-organizational-change",
    # "HM Treasury Magenta Book guidance on evaluation" [pages]
    "https://gov.uk/government/publications/the-magenta-book",
    # "Blameless PostMortems and a Just Culture Allspaw Etsy Code as Craft" [pages]
    "https://codeascraft.com/2012/05/22/blameless-postmortems/",
    # "rework.withgoogle.com guides set goals with OKRs" [docs]
    "https://github.com/18f/objectives-and-key-results",
    # "Edelman LinkedIn B2B thought leadership impact report buyers" [pages]
    "https://www.edelman.com/insights/how-b2b-thought-leadership-impacts-demand-generation-in-2020",
    # "quarterly business review customer success executive business review guide value" [pages]
    "https://www.gainsight.com/guide/the-essential-guide-to-quarterly-business-reviews/",
    # "How to embrace asynchronous communication for remote work GitLab handbook minimize time zone bias" [pages]
    "https://handbook.gitlab.com/handbook/company/culture/all-remote/asynchronous",
    # "Erin Meyer Navigating the Cultural Minefield Harvard Business Review" [pages]
    "https://changethis.com/manifesto/show/121.03.CultureMap",
    # "gov.uk government publications the green book and accompanying guidance business case guidance" [pages]
    "https://gov.uk/government/collections/the-green-book-and-accompanying-guidance-and-documents",
    # "SRE workbook canarying releases" [pages]
    "https://sre.google/workbook/canarying-releases",
    # "Anthropic docs create strong empirical evaluations define success criteria test cases edge cases" [docs]
    "https://platform.claude.com/docs/en/test-and-evaluate/develop-tests",
    # "ISO 9001 Auditing Practices Group guidance papers" [pages]
    "https://iaf.nu/en/accreditation-and-assessment-practices-iso9001/",
}


def shipped_readings() -> dict[str, str]:
    """Every address a shipped module or lesson links to, with the first file that does."""
    found: dict[str, str] = {}
    for folder in sorted(SHIPPED.iterdir()):
        if not (folder / "module.yml").exists():
            continue
        for reading in yaml.safe_load((folder / "module.yml").read_text()).get("readings", []):
            found.setdefault(reading["url"], folder.name)
        for lesson in sorted((folder / "lessons").glob("*.md")):
            for reading in front_matter(lesson).get("readings", []):
                found.setdefault(reading["url"], f"{folder.name}/{lesson.name}")
    return found


def front_matter(path: Path) -> dict:
    text = path.read_text()
    return yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n")) or {}


def test_every_shipped_reading_links_to_a_confirmed_address() -> None:
    shipped = shipped_readings()
    unconfirmed = {url: module for url, module in shipped.items() if url not in CONFIRMED}
    assert not unconfirmed, unconfirmed
    assert set(shipped) == CONFIRMED  # and nothing confirmed lingers here after its reading is gone


def test_readings_are_stored_and_a_reload_keeps_them(loaded: Flask, content_dir: Path) -> None:
    with loaded.app_context():
        mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
        assert len(mlops.readings) >= 5
        first = mlops.readings[0]
        assert first["year"] == 2015 and first["url"].startswith("https://papers.nips.cc/")
    path = content_dir / MODULE
    path.write_text(path.read_text().replace("year: 2015", "year: 2016", 1))
    assert invoke(loaded).exit_code == 0
    with loaded.app_context():
        db.session.expire_all()
        mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
        assert mlops.readings[0]["year"] == 2016


def test_the_module_page_lists_further_reading(loaded: Flask, client) -> None:
    with loaded.app_context():
        modules = db.session.scalars(select(Module)).all()
        assert len(modules) == 6
        for module in modules:
            page = client.get(f"/modules/{module.key}").get_data(as_text=True)
            assert "<h2 id=\"further-reading\">Further reading</h2>" in page
            for reading in module.readings:
                link = f'<a href="{escape(reading["url"])}" rel="noopener">{escape(reading["title"])}</a>'
                assert link in page, link
                assert str(escape(reading["why"])) in page
            assert 'target="_blank"' not in page


# ---------------------------------------------------------------- lesson readings


def test_shipped_lesson_readings_are_complete_https_and_cover_the_later_months() -> None:
    lessons = 0
    months_with_readings: set[int] = set()
    for folder in sorted(p for p in SHIPPED.iterdir() if (p / "module.yml").exists()):
        phases = {p["id"]: p["month"] for p in yaml.safe_load((folder / "module.yml").read_text())["phases"]}
        for path in sorted((folder / "lessons").glob("*.md")):
            meta = front_matter(path)
            readings = meta.get("readings", [])
            if not readings:
                continue
            lessons += 1
            months_with_readings.add(phases[meta["phase"]])
            assert len(readings) <= 2, path.name  # a week's reading, not a bibliography
            assert_complete(readings, path.name)
    assert lessons >= 15
    assert {6, 8, 9, 10, 11, 12} <= months_with_readings  # the months no module opens in


def lesson_reading_line(text: str, field: str) -> str:
    """The first line of the lesson's first reading that sets ``field``."""
    lines = text.splitlines()
    start = lines.index("readings:")
    return next(line for line in lines[start:] if line.strip().removeprefix("- ").startswith(f"{field}:"))


LESSON_BAD = {
    # case: (field whose line is changed, new line or None to drop it, message fragment, field whose line is reported)
    "http link": ("url", "    url: http://proceedings.mlsys.org/paper/2019", "https:// address", "url"),
    "not a web address": ("url", "    url: https://proceedings mlsys", "well-formed web address", "url"),
    "year too early": ("year", "    year: 1066", "greater than or equal to 1900", "year"),
    "year as words": ("year", "    year: twenty nineteen", "valid integer", "year"),
    "why on two lines": ("why", '    why: "Two lines:\\nnot one"', "must be one line", "why"),
    "missing author": ("author", None, "missing (required)", "-"),
}


@pytest.mark.parametrize("case", sorted(LESSON_BAD))
def test_a_bad_lesson_reading_is_refused_with_file_and_line(app: Flask, content_dir: Path, case: str) -> None:
    field, new, message, reported = LESSON_BAD[case]
    path = content_dir / LESSON
    text = path.read_text()
    old = lesson_reading_line(text, field)
    path.write_text(text.replace(old + "\n", "" if new is None else new + "\n", 1))

    assert_refused_at(app, path, message, reported)


def test_the_same_link_twice_in_a_lesson_is_refused_with_its_line(app: Flask, content_dir: Path) -> None:
    path = content_dir / LESSON
    readings = front_matter(path)["readings"]
    path.write_text(path.read_text().replace(readings[1]["url"], readings[0]["url"], 1))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    found = re.search(rf"{re.escape(str(path))}:(\d+): duplicate reading '{re.escape(readings[0]['url'])}' "
                      r"\(also on line (\d+)\)", result.output)
    assert found, result.output
    lines = path.read_text().splitlines()
    assert lines[int(found.group(1)) - 1].strip() == f"- title: \"{readings[1]['title']}\""
    assert lines[int(found.group(2)) - 1].strip() == f"- title: \"{readings[0]['title']}\""


def test_the_same_link_in_a_module_and_in_one_of_its_lessons_is_allowed(app: Flask, content_dir: Path) -> None:
    """A lesson may point again at a module's source for its own week: the lists are checked each on its own."""
    path = content_dir / LESSON
    readings = front_matter(path)["readings"]
    module_url = yaml.safe_load((content_dir / MODULE).read_text())["readings"][0]["url"]
    path.write_text(path.read_text().replace(readings[0]["url"], module_url, 1))
    result = invoke(app, "--check")
    assert result.exit_code == 0, result.output


def test_lesson_readings_are_stored_and_a_reload_follows_the_file(loaded: Flask, content_dir: Path) -> None:
    with loaded.app_context():
        lesson = db.session.scalar(select(Lesson).where(Lesson.key == LESSON_KEY))
        assert [r["url"] for r in lesson.readings] == [r["url"] for r in front_matter(content_dir / LESSON)["readings"]]
        assert lesson.readings[0]["year"] == 2019
        bare = db.session.scalar(select(Lesson).where(Lesson.key == "mlops-release-pipeline-registry"))
        assert bare.readings == []
    path = content_dir / LESSON
    text = path.read_text()
    first = front_matter(path)["readings"][0]
    block_start = text.index("readings:\n")
    block_end = text.index("\n---\n", block_start)
    # keep only the second reading: the first simply disappears with the next load
    second = text[block_start:block_end].split("\n  - title:")[2]
    path.write_text(text[:block_start] + "readings:\n  - title:" + second + text[block_end:])
    assert invoke(loaded).exit_code == 0
    with loaded.app_context():
        db.session.expire_all()
        lesson = db.session.scalar(select(Lesson).where(Lesson.key == LESSON_KEY))
        assert len(lesson.readings) == 1 and lesson.readings[0]["url"] != first["url"]
        assert lesson.retired_at is None
    path.write_text(text[:block_start].rstrip("\n") + text[block_end:])  # no readings at all
    assert invoke(loaded).exit_code == 0
    with loaded.app_context():
        db.session.expire_all()
        assert db.session.scalar(select(Lesson).where(Lesson.key == LESSON_KEY)).readings == []
    again = invoke(loaded)  # loading the same files twice changes nothing
    assert again.exit_code == 0 and "No changes: the database already matches the files" in again.output, again.output


def test_the_lesson_page_ends_with_its_further_reading(loaded: Flask, admin_client) -> None:
    with loaded.app_context():
        lesson = db.session.scalar(select(Lesson).where(Lesson.key == LESSON_KEY))
        readings = list(lesson.readings)
    html = admin_client.get(f"/lessons/{LESSON_KEY}").get_data(as_text=True)
    heading = html.index('<h2 id="further-reading">Further reading</h2>')
    assert heading > html.index("</article>") and heading > html.index('id="activity"')  # after the body and practice
    assert heading < html.index('<nav class="pager"')
    for reading in readings:
        link = f'<a href="{escape(reading["url"])}" rel="noopener">{escape(reading["title"])}</a>'
        assert html.index(link) > heading, link
        assert f'({escape(reading["author"])}, {reading["year"]})' in html
        assert str(escape(reading["why"])) in html
    assert 'target="_blank"' not in html
    bare = admin_client.get("/lessons/mlops-release-pipeline-registry").get_data(as_text=True)
    assert "further-reading" not in bare and "Further reading" not in bare


def stats_row(output: str, table: str, first_cell: str) -> dict[str, str]:
    """One row of a content-stats table (``Per month`` or ``Per module``), by column name."""
    section = output.split(f"## {table}")[1].split("\n## ")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("|")]
    header = rows[0]
    row = next(r for r in rows[2:] if r[0] == first_cell)
    return dict(zip(header, row, strict=True))


def test_content_stats_counts_a_lesson_reading_in_the_lessons_month(app: Flask, content_dir: Path) -> None:
    before = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert before.exit_code == 0, before.output
    path = content_dir / LESSON  # an mlops lesson of month 6; the module first runs in month 1
    text = path.read_text()
    end = text.index("\n---\n", 4)
    extra = ('\n  - title: "Extra"\n    author: "Someone"\n    year: 2020\n    url: https://example.org/extra\n'
             '    why: "One more line."')
    path.write_text(text[:end] + extra + text[end:])
    after = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert after.exit_code == 0, after.output
    for table, cell, change in [("Per month", "6", 1), ("Per month", "1", 0), ("Per module", "mlops", 1),
                                ("Per month", "total", 1)]:
        assert int(stats_row(after.output, table, cell)["readings"]) == \
            int(stats_row(before.output, table, cell)["readings"]) + change, (table, cell)

"""``flask lms import-gift`` and ``flask lms export-gift``: Moodle's GIFT format both ways."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml
from flask import current_app
from flask.cli import with_appcontext
from pydantic import ValidationError

from lms.assessment import services
from lms.assessment.content import HOUSE_RULE_FIELDS, HOUSE_RULES, QuizFile
from lms.assessment.gift_reader import parse_gift, slugify
from lms.assessment.gift_writer import export_gift
from lms.assessment.kinds import QuestionKind
from lms.assessment.models import QuizKind, ReviewPolicyName
from lms.database import unit_of_work, utcnow
from lms.extensions import db


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


# How an imported quiz file remembers each question's GIFT category (a comment line).
_CATEGORY_NOTE = "# gift-category: "


def _categories_noted(text: str) -> dict[str, str]:
    found = (line[len(_CATEGORY_NOTE):].strip().partition(" ") for line in text.splitlines()
             if line.startswith(_CATEGORY_NOTE))
    return {qid: path.strip() for qid, _, path in found if qid and path.strip()}


def _known_objectives() -> set[str]:
    data = yaml.safe_load((Path(current_app.config["CONTENT_DIR"]) / "objectives.yml").read_text(encoding="utf-8"))
    return {o["code"] for o in data.get("objectives", [])}


@click.command("import-gift")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "quiz_id", help="The quiz id (default: from the file name).")
@click.option("--title", help="The quiz title (default: from the file name).")
@click.option("--module", help="The module the quiz belongs to (a quiz) ...")
@click.option("--phase", help="... and the phase whose release opens it.")
@click.option("--level", help="Or the level it belongs to (an exam).")
@click.option("--objectives", required=True,
              help="Objective codes for every imported question, e.g. KO1,SO1 (GIFT has none).")
@click.option("--attempts", type=click.IntRange(0, 100),
              help="Attempts allowed, 0 for unlimited (default: 3 for a quiz, 2 for an exam, as the program's own).")
@click.option("--review", type=click.Choice([r.value for r in ReviewPolicyName]),
              help="When the answers show (default: after_last_attempt for a quiz, after_close for an exam).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write (default: quizzes/<id>.yml).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--skip-bad", is_flag=True, help="Import the questions that read and list the ones skipped.")
def import_gift_command(file: Path, quiz_id: str | None, title: str | None, module: str | None, phase: str | None,
                        level: str | None, objectives: str, attempts: int | None, review: str | None,
                        out: Path | None, force: bool, skip_bad: bool) -> None:
    """Turn a GIFT file into a quiz file in our format. Nothing is written if any
    question cannot be read: every problem is listed with its file and line
    (with --skip-bad the rest is written and the skipped questions are listed).
    GIFT holds no attempts or review: the file gets the program's own for its kind
    (``HOUSE_RULES``) unless --attempts / --review say otherwise, and the output says
    which defaults it applied."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail(f"{file}:1: not UTF-8 text (byte {exc.start})")
    result = parse_gift(text, str(file))
    if result.problems and not skip_bad:
        for problem in result.problems:
            click.echo(f"error: {file}:{problem.line}: {problem.message}", err=True)
        _fail(f"{file}: {len(result.problems)} problem(s); nothing was written "
              "(--skip-bad imports the rest).")
    for problem in result.problems:
        click.echo(f"skipped: {file}:{problem.line}: {problem.message}", err=True)
    if not result.questions:
        _fail(f"{file}: no question could be read; nothing was written.")
    codes = [c.strip() for c in objectives.split(",") if c.strip()]
    unknown = [c for c in codes if c not in _known_objectives()]
    if not codes or unknown:
        _fail(f"unknown objective code(s): {', '.join(unknown) or '(none given)'}")
    if (module is None) == (level is None):
        _fail("give --module (for a quiz) or --level (for an exam)")
    kind = QuizKind.QUIZ if module else QuizKind.EXAM
    house = HOUSE_RULES[kind].model_dump(mode="json", include=set(HOUSE_RULE_FIELDS))
    given = {"attempts_allowed": attempts, "review": review}
    settings = {name: given[name] if given.get(name) is not None else house[name] for name in HOUSE_RULE_FIELDS}
    defaulted = [f"{name}: {settings[name]}" for name in HOUSE_RULE_FIELDS if given.get(name) is None]
    quiz: dict[str, Any] = {
        "id": quiz_id or slugify(file.stem),
        "title": title or file.stem.replace("-", " ").replace("_", " ").capitalize(),
        "kind": kind.value,  # a plain str for the YAML writer
        **({"module": module} if module else {"level": level}),
        **({"phase": phase} if phase else {}),
        "settings": settings,
        # A description is text to read: it shows no objective.
        "questions": [q if q["type"] == QuestionKind.DESCRIPTION else {**q, "objectives": codes}
                      for q in result.questions],
    }
    try:
        QuizFile.model_validate(quiz)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            click.echo(f"error: {file}: {where}: {error['msg']}", err=True)
        _fail("the imported quiz does not fit our format; nothing was written.")
    target = out or Path(current_app.config["QUIZZES_DIR"]) / f"{quiz['id']}.yml"
    if target.exists() and not force:
        _fail(f"{target} exists; pass --force to overwrite it")
    header = f"# Imported from {file.name} by flask lms import-gift.\n"
    if defaulted:
        header += f"# Settings the import chose (GIFT has none; the program's own for a {kind}): {', '.join(defaulted)}.\n"
    if result.categories:  # Moodle's categories: a quiz has no place for them; export-gift writes them back
        header += "".join(f"{_CATEGORY_NOTE}{qid} {path}\n" for qid, path in result.categories.items())
    target.write_text(header + yaml.dump(quiz, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True), encoding="utf-8")
    skipped = f"; {len(result.problems)} problem(s) skipped, listed above" if result.problems else ""
    click.echo(f"Wrote {target}: {len(result.questions)} question(s){skipped}.")
    if defaulted:
        click.echo(f"Defaults applied (GIFT has no attempts or review; the program's own for a {kind}): "
                   f"{', '.join(defaulted)}. Change them under `settings:` in the file, or import with "
                   "--attempts / --review.")
    click.echo("Run `flask lms load-content` to load it.")


@click.command("export-gift")
@with_appcontext
@click.argument("quiz")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of standard output.")
def export_gift_command(quiz: str, out: Path | None) -> None:
    """Write a quiz (its id, or the path of its file) as GIFT. What GIFT cannot hold
    (ordering questions, points, pools) is listed on standard error."""
    path = Path(quiz)
    if not path.is_file():
        path = Path(current_app.config["QUIZZES_DIR"]) / f"{quiz}.yml"
    if not path.is_file():
        _fail(f"no quiz file {quiz!r} (looked for {path})")
    try:
        source = path.read_text(encoding="utf-8")
        data = yaml.safe_load(source)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        _fail(f"{path}: cannot read it: {exc}")
    result = export_gift(data, _categories_noted(source) or None)
    for problem in result.problems:
        click.echo(f"warning: {problem}", err=True)
    if out:
        out.write_text(result.text, encoding="utf-8")
        click.echo(f"Wrote {out}.", err=True)
    else:
        click.echo(result.text, nl=False)


@click.command("close-expired-attempts")
@with_appcontext
def close_expired_attempts_command() -> None:
    """Close and score every quiz attempt whose time ran out (safe to run every few minutes)."""
    with unit_of_work(db.session):
        count = services.close_expired_attempts(db.session, utcnow())
    click.echo(f"Closed {count} attempt{'s' * (count != 1)} whose time ran out.")

"""``flask lms demo``: the demo organization with months of activity, and (with
``--learners N --cohorts C``) generated cohorts at volume for benchmarking."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.demo.benchmark import MAX_LEARNERS, build_benchmark
from lms.demo.services import (
    COHORT,
    ORGANIZATION,
    PROFILES,
    DemoError,
    build_demo,
    demo_activity,
    demo_certificates,
    evidence_count,
)
from lms.extensions import db
from lms.notifications.reminders import send_reminders
from lms.notifications.services import NO_BASE_URL, mail_base_url

# Benchmark learners whose certificates the demo issues itself (about 27 ms each on this
# machine): past it the build would grow by minutes at 100,000 learners.
CERTIFY_INLINE = 2_000


@click.command("demo")
@with_appcontext
@click.option("--learners", type=click.IntRange(1, MAX_LEARNERS), default=None, metavar="N",
              help=f"Also generate N learners (1-{MAX_LEARNERS}) in each benchmark cohort.")
@click.option("--cohorts", type=click.IntRange(min=0), default=None, metavar="C",
              help="How many benchmark cohorts to generate (default 1 when --learners is given).")
def demo_command(learners: int | None, cohorts: int | None) -> None:
    """Create (or refresh) the demo organization, give its learners months of activity and
    print the credentials. With --learners, also generate cohorts at volume for benchmarking."""
    if cohorts and learners is None:
        raise click.UsageError("--cohorts needs --learners: say how many learners each cohort gets.")
    started = time.perf_counter()
    with unit_of_work(db.session):
        credentials = build_demo(db.session)
        with click.progressbar(length=len(PROFILES), label="Demo learners' activity", file=sys.stderr) as bar:
            activity = demo_activity(db.session, utcnow(), tick=bar.update)
    for note in activity.notes:
        click.echo(note)
    if activity.learners:
        click.echo(f"Demo activity: {activity.learners} learners given {activity.months} months of work: "
                   f"{activity.lessons_read} lessons read, {activity.attempts} quiz attempts, "
                   f"{activity.submissions} pieces of work handed in ({activity.grades} graded), "
                   f"{activity.peer_reviews} peer reviews, {activity.ratings} instructor ratings, "
                   f"{activity.kpi_figures} KPI figures, {activity.simulation_runs} simulation runs, "
                   f"{activity.expert_ratings} expert ratings, {activity.teams} teams "
                   f"({time.perf_counter() - started:.1f}s).")
    elif activity.already:
        click.echo(f"Demo activity: already in place for {activity.already} learners; nothing added.")
    if not mail_base_url(db.session):
        # The demo queues mail outside any request: its links need the configured address.
        click.echo(f"warning: {NO_BASE_URL}", err=True)
    if activity.conversations:
        click.echo(f"Inbox: {activity.conversations} conversations between the instructor and learners started.")
    if learners is None:  # today's notices, as cron's first send-reminders makes them (mail waits in the outbox)
        with unit_of_work(db.session):
            notices = send_reminders(db.session, utcnow())
        kinds = ", ".join(f"{event.value.replace('_', ' ')} {n}" for event, n in sorted(notices.notices.items()))
        click.echo(f"Notices of today: {notices.made} made ({kinds or 'none new'}); "
                   f"{notices.digests} digest{'s' * (notices.digests != 1)} queued; the mail waits in the outbox.")
    if cohorts == 0:
        click.echo("Benchmark: no cohorts asked for (--cohorts 0); nothing generated.")
    elif learners is not None:
        count = cohorts if cohorts is not None else 1
        began = time.perf_counter()
        try:
            with unit_of_work(db.session), \
                    click.progressbar(length=learners * count, label="Benchmark learners", file=sys.stderr) as bar:
                report = build_benchmark(db.session, learners, count, utcnow(), tick=bar.update)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        seconds = time.perf_counter() - began
        click.echo(f"Benchmark: {report.cohorts} cohort{'s' * (report.cohorts != 1)} ({', '.join(report.cohort_names)}); "
                   f"{report.learners} learners generated, {report.existing} already there.")
        click.echo(f"  {report.evidence:,} evidence rows, {report.attempts:,} quiz attempts, "
                   f"{report.submissions:,} submissions ({report.grades:,} graded), {report.peer_reviews:,} peer reviews, "
                   f"{report.lessons_read:,} lessons read, {report.kpi_figures:,} KPI figures, "
                   f"{report.simulation_runs:,} simulation runs, {report.expert_ratings:,} expert ratings, "
                   f"{report.teams:,} teams; "
                   + (f"{report.mastery:,} mastery records rebuilt." if report.mastery else "mastery unchanged."))
        rate = f" ({report.learners / seconds:.1f} learners/s)" if report.learners and seconds else ""
        click.echo(f"  Took {seconds:.1f}s{rate}.")
    inline = learners is None or learners * (cohorts if cohorts is not None else 1) <= CERTIFY_INLINE
    with unit_of_work(db.session):  # the certificates the work earned, as the periodic check issues them
        certified = demo_certificates(db.session, utcnow(), benchmark=inline)
    click.echo(f"Certificates: {certified} issued for levels the demo's learners completed."
               if certified else "Certificates: none due (every level the demo's learners completed has its certificate).")
    if not inline:
        click.echo(f"  Over {CERTIFY_INLINE:,} benchmark learners, their certificates are left to the periodic check: "
                   "run `flask lms queue-job check-certificates` (it takes tens of milliseconds a learner due one).")
    click.echo(f"Evidence in the database: {evidence_count(db.session):,} rows.")
    click.echo(f"Demo data ready: {ORGANIZATION}, cohort {COHORT!r} (started five months ago).")
    click.echo(f"{'role':<20} {'email':<26} password")
    for c in credentials:
        click.echo(f"{c.role:<20} {c.email:<26} {c.password}")

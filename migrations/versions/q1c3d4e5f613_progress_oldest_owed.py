"""progress oldest owed: work handed in and waiting for its grade no longer makes a learner
late. Each learner's schedule-state line keeps the due date of their oldest assessed item
still owed (not done, and not handed in waiting for its grade): what the heat map counts
days behind from. The lines kept before counted such work; this recomputes them from the
kept items, in SQL. Nothing in the schema changes. (Their ``cohort_revision`` is left as it
was: it only tells a kept heat map that something changed, and every line takes its new
number when next written, or all at once with ``flask lms rebuild-progress``.)

Revision ID: q1c3d4e5f613
Revises: p1c3d4e5f613
Create Date: 2026-12-05 01:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'q1c3d4e5f613'
down_revision = 'p1c3d4e5f613'
branch_labels = None
depends_on = None

ITEMS = sa.table('progress_items', sa.column('user_id', sa.Integer), sa.column('cohort_id', sa.Integer),
                 sa.column('kind', sa.String), sa.column('due_on', sa.Date), sa.column('done', sa.Boolean),
                 sa.column('handed_in', sa.Boolean))
LEARNERS = sa.table('progress_learners', sa.column('user_id', sa.Integer), sa.column('cohort_id', sa.Integer),
                    sa.column('oldest_due', sa.Date))


def _recompute(*owed: sa.ColumnElement[bool]) -> None:
    """Every line's oldest due date among its learner's assessed items (every kind but a
    lesson) in its cohort that are ``owed``."""
    oldest = (sa.select(sa.func.min(ITEMS.c.due_on))
              .where(ITEMS.c.user_id == LEARNERS.c.user_id, ITEMS.c.cohort_id == LEARNERS.c.cohort_id,
                     ITEMS.c.kind != 'lesson', *owed)
              .scalar_subquery())
    op.execute(LEARNERS.update().values(oldest_due=oldest))


def upgrade() -> None:
    _recompute(ITEMS.c.done.is_(sa.false()), ITEMS.c.handed_in.is_(sa.false()))


def downgrade() -> None:
    _recompute(ITEMS.c.done.is_(sa.false()))

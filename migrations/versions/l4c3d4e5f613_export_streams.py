"""export streams — issue 14 point 3: a job whose file was deleted after EXPORT_KEEP_DAYS
is ``expired`` (one more status in the ck_jobs_status CHECK constraint)

On SQLite the constraint is replaced by rebuilding the table (batch mode); on PostgreSQL
it is altered in place.

Revision ID: l4c3d4e5f613
Revises: l3c3d4e5f613
Create Date: 2026-12-01 13:50:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'l4c3d4e5f613'
down_revision = 'l3c3d4e5f613'
branch_labels = None
depends_on = None

OLD_STATUSES = ('queued', 'running', 'done', 'failed')
NEW_STATUSES = (*OLD_STATUSES, 'expired')


def _replace(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_status'), f"status IN ({', '.join(repr(s) for s in values)})")


def upgrade() -> None:
    _replace(NEW_STATUSES)


def downgrade() -> None:
    # An expired job has no file left: the older schema calls it done without one.
    op.execute("UPDATE jobs SET status = 'done' WHERE status = 'expired'")
    _replace(OLD_STATUSES)

"""revision window: when a submission was last returned for revision
(``submissions.returned_at``), so that the schedule gives returned work a window to be
handed in again (``REVISION_DAYS``) instead of counting it overdue from its first due date
the moment it comes back. Filled for the submissions returned now from their grade's last
"return" event.

Revision ID: y1c3d4e5f613
Revises: x1c3d4e5f613
Create Date: 2026-12-06 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'y1c3d4e5f613'
down_revision = 'x1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('returned_at', lms.database.UTCDateTime(), nullable=True))
    op.execute(sa.text(
        "UPDATE submissions SET returned_at = ("
        " SELECT MAX(e.at) FROM grade_events e JOIN grades g ON g.id = e.grade_id"
        " WHERE g.submission_id = submissions.id AND e.action = 'return')"
        " WHERE status = 'returned'"))


def downgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('returned_at')

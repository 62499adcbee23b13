"""kept trends: each cohort's trend for its months gone by, stored by the ``keep-trends``
job with a digest of what it was replayed from, so that a process started since (after a
deploy, on another node) shows it without replaying the cohort's evidence (0.7-1.0 s at
500 learners and 237,000 evidence rows on SQLite). A row whose digest differs from the one
a page works out is never read.

Revision ID: s1c3d4e5f613
Revises: r1c3d4e5f613
Create Date: 2026-12-05 06:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 's1c3d4e5f613'
down_revision = 'r1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kept_trends',
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('points', sa.JSON(), nullable=False),
    sa.Column('made_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_kept_trends_cohort_id_cohorts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cohort_id', name=op.f('pk_kept_trends'))
    )


def downgrade():
    op.drop_table('kept_trends')

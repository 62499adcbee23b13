"""progress cohort revision — issue 14 point 2: each learner's schedule-state line keeps what
the cohort's pages show of their rows folded into a number (``cohort_revision``), and a
cohort's kept heat map sums that instead of the random revision drawn on every write, so a
lesson read that starts or finishes nothing no longer rebuilds the heat map. Existing lines
start at 0 and take their number when next written (any change the heat map shows writes
them); ``flask lms rebuild-progress`` gives every line its number at once

Revision ID: p1c3d4e5f613
Revises: o1c3d4e5f613
Create Date: 2026-12-04 10:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'p1c3d4e5f613'
down_revision = 'o1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort_revision', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.drop_column('cohort_revision')

"""progress revision — issue 14 point 2: each learner's schedule-state line keeps a random
number drawn whenever their rows are written, so a cohort's kept heat map knows, from one
sum, whether any learner's state changed

Revision ID: m1c3d4e5f613
Revises: l4c3d4e5f613
Create Date: 2026-12-01 20:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'm1c3d4e5f613'
down_revision = 'l4c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.drop_column('revision')

"""cohort revision: ``cohorts.revision``, the version of a cohort's settings an edit form
was shown, so that of two edits from one version the second is refused instead of quietly
overwriting the first (a conditional UPDATE on it).

Revision ID: z1c3d4e5f613
Revises: z7c3d4e5f613
Create Date: 2026-12-06 14:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'z1c3d4e5f613'
down_revision = 'z7c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.drop_column('revision')

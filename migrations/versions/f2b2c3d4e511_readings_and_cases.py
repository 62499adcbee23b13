"""module readings and running cases — issue 11 points 4, 5

Revision ID: f2b2c3d4e511
Revises: f1b2c3d4e511
Create Date: 2026-12-01 00:25:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f2b2c3d4e511'
down_revision = 'f1b2c3d4e511'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get an empty list; the next content load fills each module's readings.
    with op.batch_alter_table('modules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('readings', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade():
    with op.batch_alter_table('modules', schema=None) as batch_op:
        batch_op.drop_column('readings')

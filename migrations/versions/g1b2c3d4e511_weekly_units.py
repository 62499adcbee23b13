"""weekly units: a lesson's week of its month and its practice activity — issue 11 point 1

Revision ID: g1b2c3d4e511
Revises: f2b2c3d4e511
Create Date: 2026-12-01 00:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'g1b2c3d4e511'
down_revision = 'f2b2c3d4e511'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('week', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activity', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.drop_column('activity')
        batch_op.drop_column('week')

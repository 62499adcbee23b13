"""webhook earlier attempts: a redelivered webhook delivery keeps the count of the attempts
made before (``webhook_deliveries.earlier_attempts``); the delivery log's "Tries" showed 1
after an admin redelivered a delivery that had failed 8 times, its history lost. Existing
deliveries have none.

Revision ID: zr3c3d4e5f613
Revises: zr2c3d4e5f613
Create Date: 2026-12-06 14:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zr3c3d4e5f613'
down_revision = 'zr2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('earlier_attempts', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('earlier_attempts')

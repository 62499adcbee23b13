"""retry earlier attempts: a message of the outbox and a background job retried by a site
admin keep the count of the tries made before (``outbox_messages.earlier_attempts``,
``jobs.earlier_attempts``), as a redelivered webhook delivery does; their "Tries" showed 0
after a retry of one that had failed 5 times, its history lost. Existing rows have none.

Revision ID: zt1c3d4e5f613
Revises: zs1c3d4e5f613
Create Date: 2026-12-06 16:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zt1c3d4e5f613'
down_revision = 'zs1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('outbox_messages', 'jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('earlier_attempts', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    for table in ('jobs', 'outbox_messages'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('earlier_attempts')

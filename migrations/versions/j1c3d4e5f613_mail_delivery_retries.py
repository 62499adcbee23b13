"""mail delivery retries: each outbox message keeps its status (pending, sent, failed after
the last try), how many attempts were made, when the last was and when the next is due
— issue 17 point 8

Revision ID: j1c3d4e5f613
Revises: i9c3d4e5f613
Create Date: 2026-12-01 06:00:08.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'j1c3d4e5f613'
down_revision = 'i9c3d4e5f613'
branch_labels = None
depends_on = None

STATUSES = ('pending', 'sent', 'failed')


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=10), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_attempt_at', lms.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', lms.database.UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_outbox_messages_status'),
                                         f"status IN ({', '.join(repr(s) for s in STATUSES)})")
        batch_op.create_index('ix_outbox_messages_status_next_attempt_at', ['status', 'next_attempt_at'])
    # Messages sent before count one attempt; unsent ones that already failed count one too.
    op.execute("UPDATE outbox_messages SET status = 'sent', attempts = 1, last_attempt_at = sent_at WHERE sent_at IS NOT NULL")
    op.execute("UPDATE outbox_messages SET attempts = 1 WHERE sent_at IS NULL AND error <> ''")


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_status_next_attempt_at')
        batch_op.drop_constraint(op.f('ck_outbox_messages_status'), type_='check')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('last_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('status')

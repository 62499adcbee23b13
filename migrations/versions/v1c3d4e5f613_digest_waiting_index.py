"""digest waiting index: the notices waiting for a daily digest, by user (a partial index).
Every run of ``send-reminders`` (cron, every few minutes) looked for them through the whole
notifications table, which keeps every notice ever made: with nothing to send, 14 / 18 ms a
run (SQLite / PostgreSQL) over 76,000 notices and 84 / 45 ms over 303,000, growing with
them (``bench/periodic.py``); through this index, which holds only those waiting, 1-3 ms.

Revision ID: v1c3d4e5f613
Revises: u1c3d4e5f613
Create Date: 2026-12-06 01:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'v1c3d4e5f613'
down_revision = 'u1c3d4e5f613'
branch_labels = None
depends_on = None

DIGEST_WAITING = "channel = 'digest' AND mailed_at IS NULL"


def upgrade():
    op.create_index('ix_notifications_digest_waiting', 'notifications', ['user_id'], unique=False,
                    sqlite_where=sa.text(DIGEST_WAITING), postgresql_where=sa.text(DIGEST_WAITING))


def downgrade():
    op.drop_index('ix_notifications_digest_waiting', table_name='notifications')

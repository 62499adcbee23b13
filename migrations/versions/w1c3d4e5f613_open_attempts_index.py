"""open attempts index: the quiz attempts still running, by deadline (a partial index).
``flask lms close-expired-attempts`` (cron, every few minutes) looked for those whose time
ran out through every attempt ever made; the index holds only those still running.

Revision ID: w1c3d4e5f613
Revises: v1c3d4e5f613
Create Date: 2026-12-06 01:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'w1c3d4e5f613'
down_revision = 'v1c3d4e5f613'
branch_labels = None
depends_on = None

OPEN = "submitted_at IS NULL"


def upgrade():
    op.create_index('ix_quiz_attempts_open_deadline', 'quiz_attempts', ['deadline_at'], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade():
    op.drop_index('ix_quiz_attempts_open_deadline', table_name='quiz_attempts')

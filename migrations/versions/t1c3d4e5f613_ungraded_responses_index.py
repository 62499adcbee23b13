"""ungraded responses index: the written quiz answers nobody has graded yet, by attempt (a
partial index). The instructor's home counts them for each cohort it shows on every view,
and the essay queue lists them; both read every finished attempt of the cohort and, for
each, every answer it holds to find the few without a score (26 ms on SQLite for 10,115
attempts and 60,690 answers; 0.5 ms with this index, which holds only those few).

Revision ID: t1c3d4e5f613
Revises: s1c3d4e5f613
Create Date: 2026-12-05 08:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 't1c3d4e5f613'
down_revision = 's1c3d4e5f613'
branch_labels = None
depends_on = None

UNGRADED = "score IS NULL AND answer IS NOT NULL"


def upgrade():
    op.create_index('ix_quiz_responses_ungraded', 'quiz_responses', ['attempt_id'], unique=False,
                    sqlite_where=sa.text(UNGRADED), postgresql_where=sa.text(UNGRADED))


def downgrade():
    op.drop_index('ix_quiz_responses_ungraded', table_name='quiz_responses')

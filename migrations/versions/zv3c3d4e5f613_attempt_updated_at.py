"""quiz attempts' updated_at: when an attempt was submitted or its score last changed (a
written answer graded by hand, a question withdrawn and the attempt rescored). The API's
quiz-attempt lists read it for ``updated_since``: by the submission time alone, a sync never
learned of an essay's grade (the attempt stayed ``pending_manual`` with its first score).

Existing attempts are filled from what they keep: the latest hand grading of one of their
answers after the submission, else the submission time (null while an attempt is open). A
regrade after a withdrawal left no time on the attempt, so those read the submission time.

Revision ID: zv3c3d4e5f613
Revises: zv2c3d4e5f613
Create Date: 2026-12-06 19:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zv3c3d4e5f613'
down_revision = 'zv2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('quiz_attempts', sa.Column('updated_at', lms.database.UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE quiz_attempts SET updated_at = COALESCE("
        "(SELECT MAX(r.graded_at) FROM quiz_responses r WHERE r.attempt_id = quiz_attempts.id "
        " AND r.graded_at > quiz_attempts.submitted_at), submitted_at) "
        "WHERE submitted_at IS NOT NULL")


def downgrade() -> None:
    op.drop_column('quiz_attempts', 'updated_at')

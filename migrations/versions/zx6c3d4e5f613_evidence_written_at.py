"""evidence's written_at: when the row was written. ``recorded_at`` is when the result it
says was made (a quiz's attempt), and orders the learner's evidence for mastery; a written
answer graded days later writes quiz evidence dated back to the attempt. The API's evidence
lists read ``written_at`` for ``updated_since`` and their order: by ``recorded_at`` alone, a
sync never learned of that evidence.

Existing rows are filled with their ``recorded_at``.

Revision ID: zx6c3d4e5f613
Revises: zx2c3d4e5f613
Create Date: 2026-12-06 22:35:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zx6c3d4e5f613'
down_revision = 'zx2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('evidence', sa.Column('written_at', lms.database.UTCDateTime(), nullable=True))
    op.execute("UPDATE evidence SET written_at = recorded_at")
    with op.batch_alter_table('evidence') as batch:
        batch.alter_column('written_at', existing_type=lms.database.UTCDateTime(), nullable=False)
    op.create_index('ix_evidence_user_written', 'evidence', ['user_id', 'written_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_evidence_user_written', table_name='evidence')
    with op.batch_alter_table('evidence') as batch:
        batch.drop_column('written_at')

"""API sync gaps: api_removals also records what left a learner's own lists (/me: a row
with no cohort and no organization), quiz attempts carried to another cohort and mastery
rows deleted (``attempt``, ``mastery`` in ck_api_removals_kind), with indexes for the /me
lists and for pruning by age. A webhook endpoint keeps its previous secret, encrypted, and
until when deliveries are signed with it too after a rotation.

Revision ID: zx2c3d4e5f613
Revises: zx1c3d4e5f613
Create Date: 2026-12-06 22:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zx2c3d4e5f613'
down_revision = 'zx1c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('grade', 'submission', 'evidence', 'learner')
NEW = ('grade', 'submission', 'evidence', 'learner', 'attempt', 'mastery')


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('api_removals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_api_removals_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_api_removals_kind'), _kinds(NEW))
        batch_op.alter_column('cohort_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_api_removals_learner_kind_time', ['learner_id', 'kind', 'removed_at', 'id'], unique=False)
        batch_op.create_index('ix_api_removals_removed_at', ['removed_at'], unique=False)
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_until', lms.database.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_until')
        batch_op.drop_column('previous_secret_encrypted')
    # the rows of the learners' own lists and of the new kinds have no place in the old table
    op.execute(sa.text("DELETE FROM api_removals WHERE cohort_id IS NULL OR kind IN ('attempt', 'mastery')"))
    with op.batch_alter_table('api_removals', schema=None) as batch_op:
        batch_op.drop_index('ix_api_removals_removed_at')
        batch_op.drop_index('ix_api_removals_learner_kind_time')
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('cohort_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(op.f('ck_api_removals_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_api_removals_kind'), _kinds(OLD))

"""api_removals: what left one of the API's lists (a released grade taken back, an evidence
row replaced by a regrade, an enrolment ended, a moved learner's work), so an incremental sync by ``updated_since``
learns of removals as well as changes. Nothing before this migration was recorded.

Revision ID: zw3c3d4e5f613
Revises: zw2c3d4e5f613
Create Date: 2026-12-06 20:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zw3c3d4e5f613'
down_revision = 'zw2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_removals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('removed_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_api_removals_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['learner_id'], ['users.id'], name=op.f('fk_api_removals_learner_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_api_removals_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_removals')),
    sa.CheckConstraint("kind IN ('grade', 'submission', 'evidence', 'learner')", name=op.f('ck_api_removals_kind'))
    )
    with op.batch_alter_table('api_removals', schema=None) as batch_op:
        batch_op.create_index('ix_api_removals_cohort_kind_time', ['cohort_id', 'kind', 'removed_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_removals_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_removals_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_removals_organization_id'))
        batch_op.drop_index(batch_op.f('ix_api_removals_learner_id'))
        batch_op.drop_index('ix_api_removals_cohort_kind_time')
    op.drop_table('api_removals')

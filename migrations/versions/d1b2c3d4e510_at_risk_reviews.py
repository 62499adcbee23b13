"""at-risk reviews — issue 10 point 4

Revision ID: d1b2c3d4e510
Revises: c1b2c3d4e510
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'd1b2c3d4e510'
down_revision = 'c1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('at_risk_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('days_behind', sa.Integer(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_at_risk_reviews_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['learner_id'], ['users.id'], name=op.f('fk_at_risk_reviews_learner_id_users')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_at_risk_reviews_reviewer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_at_risk_reviews'))
    )
    with op.batch_alter_table('at_risk_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_at_risk_reviews_cohort_learner', ['cohort_id', 'learner_id'], unique=False)


def downgrade():
    with op.batch_alter_table('at_risk_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_at_risk_reviews_cohort_learner')
    op.drop_table('at_risk_reviews')

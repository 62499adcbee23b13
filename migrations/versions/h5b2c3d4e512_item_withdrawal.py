"""item analysis: withdrawing items from a running quiz — issue 12 point 3

A question withdrawn from its quiz is recorded with who withdrew it, when, why and from
which cohort; new attempts no longer draw it. Regrading takes it out of the finished
attempts' layouts (JSON), which needs no schema change.

Revision ID: h5b2c3d4e512
Revises: h4b2c3d4e512
Create Date: 2026-12-01 04:02:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'h5b2c3d4e512'
down_revision = 'h4b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('item_withdrawals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('withdrawn_by_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('withdrawn_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('regraded_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('regraded_attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_item_withdrawals_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_item_withdrawals_question_id_questions')),
    sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], name=op.f('fk_item_withdrawals_withdrawn_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_withdrawals')),
    sa.UniqueConstraint('question_id', name=op.f('uq_item_withdrawals_question_id'))
    )


def downgrade():
    op.drop_table('item_withdrawals')

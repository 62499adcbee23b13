"""heatmap state: when each objective closes for each learner (progress_objectives), kept
with the schedule state, so the heat map counts and sorts the learners at risk in SQL —
issue 14 point 2. The table starts empty: run ``flask lms rebuild-progress`` once after
upgrading an existing database (until then no objective counts as closed).

Revision ID: l1c3d4e5f613
Revises: k8c3d4e5f613
Create Date: 2026-12-01 13:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'l1c3d4e5f613'
down_revision = 'k8c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('progress_objectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_progress_objectives_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_progress_objectives_objective_id_objectives')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_progress_objectives_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_objectives'))
    )
    with op.batch_alter_table('progress_objectives', schema=None) as batch_op:
        batch_op.create_index('ix_progress_objectives_cohort_user', ['cohort_id', 'user_id'], unique=False)
        batch_op.create_index('ix_progress_objectives_user', ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('progress_objectives', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_objectives_user')
        batch_op.drop_index('ix_progress_objectives_cohort_user')
    op.drop_table('progress_objectives')

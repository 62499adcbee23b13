"""progress state: each learner's schedule items kept as they stand (dates with extensions,
done, what they count toward), so pages read them with set-based SQL — issue 14 point 1

Revision ID: k1c3d4e5f613
Revises: j2c3d4e5f613
Create Date: 2026-12-01 10:41:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'k1c3d4e5f613'
down_revision = 'j2c3d4e5f613'
branch_labels = None
depends_on = None


KINDS = ('lesson', 'quiz', 'assignment', 'exam', 'portfolio')
ROLES = ('part', 'exam', 'portfolio', 'none')


def _check(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table('progress_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('module_id', sa.Integer(), nullable=True),
    sa.Column('level_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('opens_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('handed_in', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.String(length=120), nullable=False),
    sa.CheckConstraint(_check('kind', KINDS), name=op.f('ck_progress_items_kind')),
    sa.CheckConstraint(_check('role', ROLES), name=op.f('ck_progress_items_role')),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_progress_items_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['level_id'], ['levels.id'], name=op.f('fk_progress_items_level_id_levels')),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_progress_items_module_id_modules')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_progress_items_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_items'))
    )
    with op.batch_alter_table('progress_items', schema=None) as batch_op:
        batch_op.create_index('ix_progress_items_cohort_done_due', ['cohort_id', 'done', 'due_on'], unique=False)
        batch_op.create_index('ix_progress_items_user_position', ['user_id', 'position'], unique=False)
    op.create_table('progress_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('level_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('started', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_progress_levels_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['level_id'], ['levels.id'], name=op.f('fk_progress_levels_level_id_levels')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_progress_levels_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_levels'))
    )
    with op.batch_alter_table('progress_levels', schema=None) as batch_op:
        batch_op.create_index('ix_progress_levels_cohort_level', ['cohort_id', 'level_id'], unique=False)
        batch_op.create_index('ix_progress_levels_user', ['user_id'], unique=False)
    op.create_table('progress_learners',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('oldest_due', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_progress_learners_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_progress_learners_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_progress_learners'))
    )
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.create_index('ix_progress_learners_cohort', ['cohort_id'], unique=False)


def downgrade():
    with op.batch_alter_table('progress_learners', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_learners_cohort')
    op.drop_table('progress_learners')
    with op.batch_alter_table('progress_levels', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_levels_user')
        batch_op.drop_index('ix_progress_levels_cohort_level')
    op.drop_table('progress_levels')
    with op.batch_alter_table('progress_items', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_items_user_position')
        batch_op.drop_index('ix_progress_items_cohort_done_due')
    op.drop_table('progress_items')

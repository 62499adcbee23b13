"""team projects — issue 12 point 4

An assignment can be a team assignment (team size limits, whether learners form teams
themselves); teams per cohort and assignment with their members (a learner in one team
per assignment), one submission per team, teammates' contribution ratings and staff's
per-member grade adjustments.

Revision ID: i1c3d4e5f613
Revises: h6b2c3d4e512
Create Date: 2026-12-01 06:00:01.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i1c3d4e5f613'
down_revision = 'h6b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_min', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('team_max', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('team_self_formed', sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('formed_by_learner', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('draft_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_teams_assignment_id_assignments')),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_teams_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_teams_created_by_id_users')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_teams_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('assignment_id', 'cohort_id', 'name', name=op.f('uq_teams_assignment_id')),
    sa.UniqueConstraint('submission_id', name=op.f('uq_teams_submission_id'))
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teams_cohort_id'), ['cohort_id'], unique=False)

    op.create_table('team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_team_members_assignment_id_assignments')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('assignment_id', 'user_id', name=op.f('uq_team_members_assignment_id'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_members_user_id'), ['user_id'], unique=False)

    op.create_table('team_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('ratee_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ratee_id'], ['users.id'], name=op.f('fk_team_ratings_ratee_id_users')),
    sa.ForeignKeyConstraint(['rater_id'], ['users.id'], name=op.f('fk_team_ratings_rater_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_ratings_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_ratings')),
    sa.UniqueConstraint('team_id', 'rater_id', 'ratee_id', name=op.f('uq_team_ratings_team_id'))
    )
    with op.batch_alter_table('team_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_ratings_ratee_id'), ['ratee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_ratings_team_id'), ['team_id'], unique=False)

    op.create_table('team_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Float(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('adjusted_by_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['adjusted_by_id'], ['users.id'], name=op.f('fk_team_adjustments_adjusted_by_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_adjustments_team_id_teams')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_adjustments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_adjustments')),
    sa.UniqueConstraint('team_id', 'user_id', name=op.f('uq_team_adjustments_team_id'))
    )
    with op.batch_alter_table('team_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_adjustments_team_id'), ['team_id'], unique=False)


def downgrade():
    with op.batch_alter_table('team_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_adjustments_team_id'))
    op.drop_table('team_adjustments')
    with op.batch_alter_table('team_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_ratings_team_id'))
        batch_op.drop_index(batch_op.f('ix_team_ratings_ratee_id'))
    op.drop_table('team_ratings')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_team_members_team_id'))
    op.drop_table('team_members')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_cohort_id'))
        batch_op.drop_index(batch_op.f('ix_teams_assignment_id'))
    op.drop_table('teams')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('team_self_formed')
        batch_op.drop_column('team_max')
        batch_op.drop_column('team_min')

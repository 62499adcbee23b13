"""branching simulations: scenarios, learners' runs, and the simulation evidence source — issue 12 point 5

Revision ID: h6b2c3d4e512
Revises: h5b2c3d4e512
Create Date: 2026-12-01 04:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'h6b2c3d4e512'
down_revision = 'h5b2c3d4e512'
branch_labels = None
depends_on = None


OLD_SOURCES = ('quiz', 'practice', 'rubric', 'case_study', 'peer', 'rating', 'stakeholder', 'kpi', 'expert')
NEW_SOURCES = OLD_SOURCES + ('simulation',)


def _sources(values: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(NEW_SOURCES))

    op.create_table('simulations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('retired_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('module_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('objectives', sa.JSON(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_simulations_module_id_modules')),
    sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_simulations_phase_id_phases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulations')),
    sa.UniqueConstraint('key', name=op.f('uq_simulations_key'))
    )
    with op.batch_alter_table('simulations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_simulations_module_id'), ['module_id'], unique=False)

    op.create_table('simulation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('simulation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=80), nullable=False),
    sa.Column('path', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('started_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('finished_at', lms.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['simulation_id'], ['simulations.id'], name=op.f('fk_simulation_runs_simulation_id_simulations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_simulation_runs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulation_runs'))
    )
    with op.batch_alter_table('simulation_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_simulation_runs_simulation_id'), ['simulation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_simulation_runs_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('simulation_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_simulation_runs_user_id'))
        batch_op.drop_index(batch_op.f('ix_simulation_runs_simulation_id'))
    op.drop_table('simulation_runs')
    with op.batch_alter_table('simulations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_simulations_module_id'))
    op.drop_table('simulations')
    op.execute(f"DELETE FROM evidence WHERE source NOT IN ({', '.join(repr(v) for v in OLD_SOURCES)})")
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(OLD_SOURCES))

"""evidence rules by objective kind: practice quizzes, case-study evidence, per-kind weights

Evidence gains two sources (practice quizzes, case-study grades); quizzes can be marked as
practice; the mastery policy stores the evidence rules (per objective kind, each source's
weight). Quiz evidence is now one set per learner and quiz ("quiz:ID") following the quiz's
grading rule, instead of one per attempt ("attempt:ID"): after upgrading, run
``flask lms rebuild-mastery --rederive-quizzes`` to convert what earlier versions stored.

Revision ID: e1b2c3d4e510
Revises: d1b2c3d4e510
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e1b2c3d4e510'
down_revision = 'd1b2c3d4e510'
branch_labels = None
depends_on = None


OLD_SOURCES = ('quiz', 'rubric', 'peer', 'rating', 'stakeholder', 'kpi')
NEW_SOURCES = ('quiz', 'practice', 'rubric', 'case_study', 'peer', 'rating', 'stakeholder', 'kpi')


def _sources(values: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(NEW_SOURCES))
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practice', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('mastery_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence_weights', sa.JSON(), nullable=False, server_default='{}'))


def downgrade():
    with op.batch_alter_table('mastery_policies', schema=None) as batch_op:
        batch_op.drop_column('evidence_weights')
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_column('practice')
    op.execute(f"DELETE FROM evidence WHERE source NOT IN ({', '.join(repr(v) for v in OLD_SOURCES)})")
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(OLD_SOURCES))

"""weekly checks: a quiz may be the practice check of one lesson (weekly unit), and a module
quiz may open when its phase ends — issue 12 point 1

Revision ID: h1b2c3d4e512
Revises: g1b2c3d4e511
Create Date: 2026-12-01 03:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'h1b2c3d4e512'
down_revision = 'g1b2c3d4e511'
branch_labels = None
depends_on = None


OLD_KINDS = ('quiz', 'exam')
NEW_KINDS = ('quiz', 'exam', 'check')


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quizzes_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_quizzes_kind'), _kinds(NEW_KINDS))
        batch_op.add_column(sa.Column('lesson_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('opens_when_phase_ends', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_quizzes_lesson_id', ['lesson_id'])
        batch_op.create_foreign_key('fk_quizzes_lesson_id_lessons', 'lessons', ['lesson_id'], ['id'])


def downgrade():
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_constraint('fk_quizzes_lesson_id_lessons', type_='foreignkey')
        batch_op.drop_index('ix_quizzes_lesson_id')
        batch_op.drop_column('opens_when_phase_ends')
        batch_op.drop_column('lesson_id')
    op.execute("UPDATE quizzes SET kind = 'quiz' WHERE kind = 'check'")
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quizzes_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_quizzes_kind'), _kinds(OLD_KINDS))

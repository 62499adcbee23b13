"""GIFT constructs: a question version may be a description (text shown in the quiz, no
answer, no points) — issue 12 point 9. Per-option credit, 0% answers and numerical
wrong-answer feedback live in the question spec (JSON) and need no schema change.

Revision ID: h2b2c3d4e512
Revises: h1b2c3d4e512
Create Date: 2026-12-01 03:51:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'h2b2c3d4e512'
down_revision = 'h1b2c3d4e512'
branch_labels = None
depends_on = None


OLD_TYPES = ('single', 'multiple', 'true_false', 'short', 'numerical', 'matching', 'ordering', 'essay', 'scenario')
NEW_TYPES = (*OLD_TYPES, 'description')


def _types(values: tuple[str, ...]) -> str:
    return f"type IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('question_versions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_question_versions_type'), type_='check')
        batch_op.create_check_constraint(op.f('ck_question_versions_type'), _types(NEW_TYPES))


def downgrade():
    # A description has no equivalent before this revision: its versions cannot stay.
    op.execute("DELETE FROM question_versions WHERE type = 'description'")
    with op.batch_alter_table('question_versions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_question_versions_type'), type_='check')
        batch_op.create_check_constraint(op.f('ck_question_versions_type'), _types(OLD_TYPES))

"""review after the last attempt: a quiz may show correct answers and feedback once the
learner's last attempt is used or the quiz has closed (``after_last_attempt`` in the
ck_quizzes_review CHECK constraint), so that a quiz of several attempts over the same
questions does not give its answers away before the attempts that are left. The shipped
module quizzes move to it on the next ``load-content``. Downgrading turns such quizzes to
``after_close``, which shows no more than they did.

Revision ID: zw2c3d4e5f613
Revises: zv3c3d4e5f613
Create Date: 2026-12-06 20:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zw2c3d4e5f613'
down_revision = 'zv3c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('immediately', 'after_close', 'never')
NEW = ('immediately', 'after_last_attempt', 'after_close', 'never')


def _policies(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quizzes_review'), type_='check')
        batch_op.create_check_constraint(op.f('ck_quizzes_review'), f"review IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    _policies(NEW)


def downgrade() -> None:
    op.execute(sa.text("UPDATE quizzes SET review = 'after_close' WHERE review = 'after_last_attempt'"))
    _policies(OLD)

"""critique assignments: the critique kind and the template a critique asks the learner to assess — issue 12 point 7

Assignments gain a kind, ``critique`` (the learner assesses a provided artifact against
best practice, graded by rubric), and a column ``artifact`` naming the template that is
the artifact (its key; null for every other kind).

Revision ID: h4b2c3d4e512
Revises: h3b2c3d4e512
Create Date: 2026-12-01 04:01:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'h4b2c3d4e512'
down_revision = 'h3b2c3d4e512'
branch_labels = None
depends_on = None


OLD_KINDS = ('case_study', 'hands_on', 'capstone', 'portfolio')
NEW_KINDS = ('case_study', 'hands_on', 'capstone', 'portfolio', 'critique')


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_assignments_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_assignments_kind'), _kinds(NEW_KINDS))
        batch_op.add_column(sa.Column('artifact', sa.String(length=100), nullable=True))


def downgrade():
    # A critique cannot be expressed in the old schema: it becomes a case study, the kind
    # whose evidence it shared, and loses its artifact column.
    op.execute("UPDATE assignments SET kind = 'case_study' WHERE kind = 'critique'")
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('artifact')
        batch_op.drop_constraint(op.f('ck_assignments_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_assignments_kind'), _kinds(OLD_KINDS))

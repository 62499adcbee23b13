"""metric targets compare as their wording says: a metric's ``direction`` column holds one of
four comparisons, "under" and "over" (strict: a figure equal to the target misses it) beside
"at_most" and "at_least" (inclusive). Existing rows keep their inclusive comparison until the
next content load rewrites them from the files.

Revision ID: zyp1c3d4e5f613
Revises: zx9c3d4e5f613
Create Date: 2026-12-07 01:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zyp1c3d4e5f613'
down_revision = 'zx9c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('at_least', 'at_most')
NEW = ('at_least', 'at_most', 'over', 'under')


def _condition(values: tuple[str, ...]) -> str:
    return f"direction IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_metrics_direction'), type_='check')
        batch_op.create_check_constraint(op.f('ck_metrics_direction'), _condition(NEW))


def downgrade() -> None:
    # A strict comparison becomes its inclusive neighbour (the nearest the old schema can say).
    op.execute("UPDATE metrics SET direction = 'at_most' WHERE direction = 'under'")
    op.execute("UPDATE metrics SET direction = 'at_least' WHERE direction = 'over'")
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_metrics_direction'), type_='check')
        batch_op.create_check_constraint(op.f('ck_metrics_direction'), _condition(OLD))

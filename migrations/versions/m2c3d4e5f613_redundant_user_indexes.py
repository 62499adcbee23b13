"""redundant user indexes — issue 14 point 5: evidence, mastery, lesson_reads and
kpi_entries each had an index on user_id alone beside an index (or unique constraint)
that starts with user_id and serves the same lookups; every row written kept both up. The
single-column ones go (a tenth of PostgreSQL's work per evidence row in the volume build)

Revision ID: m2c3d4e5f613
Revises: m1c3d4e5f613
Create Date: 2026-12-01 20:55:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'm2c3d4e5f613'
down_revision = 'm1c3d4e5f613'
branch_labels = None
depends_on = None

TABLES = ('evidence', 'mastery', 'lesson_reads', 'kpi_entries')


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(op.f(f'ix_{table}_user_id'), table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(op.f(f'ix_{table}_user_id'), table, ['user_id'], unique=False)

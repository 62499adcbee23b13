"""calendar feeds of a kind: a learner's schedule or an instructor's teaching deadlines

Each calendar link now says what it serves (``kind``): ``schedule`` (a learner's own
schedule, every link made before) or ``teaching`` (the deadlines of the cohorts its owner
teaches). A person who both learns and teaches keeps one live link of each.

Revision ID: zzq2c3d4e5f614
Revises: zzp2c3d4e5f614
Create Date: 2026-12-07 14:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzq2c3d4e5f614'
down_revision = "zzp2c3d4e5f614"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='schedule'))
        batch_op.create_check_constraint(op.f('ck_calendar_feeds_kind'), "kind IN ('schedule', 'teaching')")


def downgrade():
    op.execute("DELETE FROM calendar_feeds WHERE kind = 'teaching'")
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calendar_feeds_kind'), type_='check')
        batch_op.drop_column('kind')

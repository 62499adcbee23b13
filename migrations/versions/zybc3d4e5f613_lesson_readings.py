"""lesson readings: a weekly unit's own further reading, beside its module's

Months 6 and 8-12 open no new module, so a module's readings (counted in its first month)
left them with nothing further to read; each lesson now carries its own list, stored as the
module's are (a JSON list of {title, author, year, url, why} the loader rewrites every load).

Revision ID: zybc3d4e5f613
Revises: zyac3d4e5f613
Create Date: 2026-12-07 01:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zybc3d4e5f613'
down_revision = 'zyac3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get an empty list; the next content load fills each lesson's readings.
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('readings', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.drop_column('readings')

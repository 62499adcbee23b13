"""per-learner schedule (joining date and pace) — issue 10 point 3

Revision ID: a1b2c3d4e510
Revises: 92d8ffe27028
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'a1b2c3d4e510'
down_revision = '92d8ffe27028'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

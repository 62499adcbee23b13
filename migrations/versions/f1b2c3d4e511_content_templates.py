"""templates as content — issue 11 point 3

Revision ID: f1b2c3d4e511
Revises: e1b2c3d4e510
Create Date: 2026-12-01 00:25:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'f1b2c3d4e511'
down_revision = 'e1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""evidence rules by objective kind — issue 10 points 1, 2, 7

Revision ID: e1b2c3d4e510
Revises: d1b2c3d4e510
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'e1b2c3d4e510'
down_revision = 'd1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""grades and attempts safe under concurrency — issue 10 point 5

Revision ID: c1b2c3d4e510
Revises: b1b2c3d4e510
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'c1b2c3d4e510'
down_revision = 'b1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

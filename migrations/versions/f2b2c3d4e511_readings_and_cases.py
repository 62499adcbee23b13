"""module readings and running cases — issue 11 points 4, 5

Revision ID: f2b2c3d4e511
Revises: f1b2c3d4e511
Create Date: 2026-12-01 00:25:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'f2b2c3d4e511'
down_revision = 'f1b2c3d4e511'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""team projects — placeholder, filled by the feature that owns it

Revision ID: i1c3d4e5f613
Revises: h6b2c3d4e512
Create Date: 2026-12-01 06:00:01.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import lms.database  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'i1c3d4e5f613'
down_revision = 'h6b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

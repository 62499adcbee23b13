"""webhooks — placeholder, filled by the feature that owns it

Revision ID: k5c3d4e5f613
Revises: k4c3d4e5f613
Create Date: 2026-12-01 10:45:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import lms.database  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'k5c3d4e5f613'
down_revision = 'k4c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""data rights — placeholder, filled by the feature that owns it

Revision ID: j2c3d4e5f613
Revises: j1c3d4e5f613
Create Date: 2026-12-01 06:00:08.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import lms.database  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'j2c3d4e5f613'
down_revision = 'j1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

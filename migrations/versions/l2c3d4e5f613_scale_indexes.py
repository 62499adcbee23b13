"""scale indexes — issue 14 (placeholder kept empty until its change needs the schema)

Revision ID: l2c3d4e5f613
Revises: l1c3d4e5f613
Create Date: 2026-12-01 13:50:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'l2c3d4e5f613'
down_revision = 'l1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

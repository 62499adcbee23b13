"""item analysis: placeholder for withdrawing items from a running quiz — issue 12 point 3

Revision ID: h5b2c3d4e512
Revises: h4b2c3d4e512
Create Date: 2026-12-01 04:02:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'h5b2c3d4e512'
down_revision = 'h4b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

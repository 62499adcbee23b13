"""expert evaluation: placeholder for the schema of expert ratings — issue 12 point 6

Revision ID: h3b2c3d4e512
Revises: h2b2c3d4e512
Create Date: 2026-12-01 04:00:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'h3b2c3d4e512'
down_revision = 'h2b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""branching simulations: placeholder for their schema — issue 12 point 5

Revision ID: h6b2c3d4e512
Revises: h5b2c3d4e512
Create Date: 2026-12-01 04:40:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'h6b2c3d4e512'
down_revision = 'h5b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

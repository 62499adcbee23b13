"""critique assignments: placeholder for the schema of the critique kind — issue 12 point 7

Revision ID: h4b2c3d4e512
Revises: h3b2c3d4e512
Create Date: 2026-12-01 04:01:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'h4b2c3d4e512'
down_revision = 'h3b2c3d4e512'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

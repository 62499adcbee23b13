"""everyday pages — issue 14 point 4: the content revision (one row, a random token replaced
whenever the curriculum changes) that the processes' curriculum caches are keyed on

Revision ID: l3c3d4e5f613
Revises: l1c3d4e5f613
Create Date: 2026-12-01 13:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'l3c3d4e5f613'
down_revision = 'l1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty: the first content load writes the row (a migrated database stays empty, as a
    # backup's restore wants it), and nothing is cached until then.
    op.create_table(
        'content_revisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_content_revisions')),
    )


def downgrade() -> None:
    op.drop_table('content_revisions')

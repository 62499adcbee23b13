"""module readings and running cases — issue 11 points 4, 5

Revision ID: f2b2c3d4e511
Revises: f1b2c3d4e511
Create Date: 2026-12-01 00:25:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'f2b2c3d4e511'
down_revision = 'f1b2c3d4e511'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get an empty list; the next content load fills each module's readings.
    with op.batch_alter_table('modules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('readings', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        'cases',
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('size', sa.String(length=120), nullable=False),
        sa.Column('market', sa.Text(), nullable=False),
        sa.Column('product', sa.Text(), nullable=False),
        sa.Column('stage', sa.Text(), nullable=False),
        sa.Column('countries', sa.JSON(), nullable=False),
        sa.Column('profile', sa.Text(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('retired_at', lms.database.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_table(
        'lesson_cases',
        sa.Column('lesson_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id']),
        sa.PrimaryKeyConstraint('lesson_id', 'case_id'),
    )


def downgrade():
    op.drop_table('lesson_cases')
    op.drop_table('cases')
    with op.batch_alter_table('modules', schema=None) as batch_op:
        batch_op.drop_column('readings')

"""file storage: uploads kept in the database (FILE_STORAGE=database), in chunks

Revision ID: k3c3d4e5f613
Revises: k2c3d4e5f613
Create Date: 2026-12-01 10:43:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'k3c3d4e5f613'
down_revision = 'k2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stored_files',
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_stored_files')),
    )
    op.create_table(
        'stored_file_chunks',
        sa.Column('file_key', sa.String(length=300), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['file_key'], ['stored_files.key'], name=op.f('fk_stored_file_chunks_file_key_stored_files'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('file_key', 'seq', name=op.f('pk_stored_file_chunks')),
    )


def downgrade():
    op.drop_table('stored_file_chunks')
    op.drop_table('stored_files')

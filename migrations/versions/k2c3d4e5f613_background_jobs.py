"""background jobs (issue 14 point 6): one row per job of a registered kind, with its
status, attempts and backoff, progress, the file it made and who asked for it

Revision ID: k2c3d4e5f613
Revises: k1c3d4e5f613
Create Date: 2026-12-01 10:42:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'k2c3d4e5f613'
down_revision = 'k1c3d4e5f613'
branch_labels = None
depends_on = None

STATUSES = ('queued', 'running', 'done', 'failed')


def upgrade():
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('label', sa.String(length=300), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('active_key', sa.String(length=200), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('result', sa.Text(), nullable=False),
        sa.Column('progress_done', sa.Integer(), nullable=False),
        sa.Column('progress_total', sa.Integer(), nullable=False),
        sa.Column('file_path', sa.String(length=300), nullable=False),
        sa.Column('file_name', sa.String(length=300), nullable=False),
        sa.Column('file_type', sa.String(length=100), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('started_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('finished_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('next_attempt_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('lease_until', lms.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_jobs_requested_by_id_users'),
                                ondelete='SET NULL'),
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name=op.f('ck_jobs_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
        sa.UniqueConstraint('active_key', name=op.f('uq_jobs_active_key')),
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_index('ix_jobs_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_jobs_requested_by_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_kind'))
    op.drop_table('jobs')

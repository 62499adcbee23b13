"""xAPI statements outbox (lms/xapi); Open Badges 3.0 issuer keys and credential
revocations (lms/openbadges)

Revision ID: k7c3d4e5f613
Revises: k6c3d4e5f613
Create Date: 2026-12-01 10:47:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'k7c3d4e5f613'
down_revision = 'k6c3d4e5f613'
branch_labels = None
depends_on = None

STATUSES = ('pending', 'sent', 'failed')


def _check(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        'xapi_statements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('statement_id', sa.String(length=36), nullable=False),
        sa.Column('event_key', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_attempt_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('next_attempt_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('sent_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('response_status', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=False),
        sa.CheckConstraint(_check('status', STATUSES), name=op.f('ck_xapi_statements_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_xapi_statements')),
        sa.UniqueConstraint('statement_id', name=op.f('uq_xapi_statements_statement_id')),
    )
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.create_index('ix_xapi_statements_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table(
        'badge_issuer_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kid', sa.String(length=64), nullable=False),
        sa.Column('private_key_encrypted', sa.Text(), nullable=False),
        sa.Column('public_jwk', sa.JSON(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_issuer_keys')),
        sa.UniqueConstraint('kid', name=op.f('uq_badge_issuer_keys_kid')),
    )
    op.create_table(
        'credential_revocations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('certificate_id', sa.Integer(), nullable=False),
        sa.Column('revoked_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('revoked_by_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'],
                                name=op.f('fk_credential_revocations_certificate_id_certificates')),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_credential_revocations_revoked_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_revocations')),
        sa.UniqueConstraint('certificate_id', name=op.f('uq_credential_revocations_certificate_id')),
    )


def downgrade():
    op.drop_table('credential_revocations')
    op.drop_table('badge_issuer_keys')
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.drop_index('ix_xapi_statements_status_next_attempt_at')
    op.drop_table('xapi_statements')

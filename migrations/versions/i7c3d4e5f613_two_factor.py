"""two factor: TOTP secrets (encrypted), recovery codes and remembered devices (hashed), the organization setting (issue 17 point 3)

Revision ID: i7c3d4e5f613
Revises: i6c3d4e5f613
Create Date: 2026-12-01 06:00:07.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i7c3d4e5f613'
down_revision = 'i6c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('two_factor_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=255), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_factor_credentials_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_factor_credentials')),
    sa.UniqueConstraint('user_id', name=op.f('uq_two_factor_credentials_user_id'))
    )
    op.create_table('two_factor_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('used_at', lms.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_factor_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_factor_recovery_codes'))
    )
    with op.batch_alter_table('two_factor_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_two_factor_recovery_codes_user_id'), ['user_id'], unique=False)
    op.create_table('two_factor_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('expires_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', lms.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_factor_devices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_factor_devices')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_two_factor_devices_token_hash'))
    )
    with op.batch_alter_table('two_factor_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_two_factor_devices_user_id'), ['user_id'], unique=False)
    op.create_table('two_factor_policies',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('require_for_instructors', sa.Boolean(), nullable=False),
    sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_two_factor_policies_organization_id_organizations')),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_two_factor_policies'))
    )


def downgrade():
    op.drop_table('two_factor_policies')
    with op.batch_alter_table('two_factor_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_two_factor_devices_user_id'))
    op.drop_table('two_factor_devices')
    with op.batch_alter_table('two_factor_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_two_factor_recovery_codes_user_id'))
    op.drop_table('two_factor_recovery_codes')
    op.drop_table('two_factor_credentials')

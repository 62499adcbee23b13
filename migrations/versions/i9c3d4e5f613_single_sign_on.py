"""single sign on: organizations' OpenID Connect settings and linked identities

Revision ID: i9c3d4e5f613
Revises: i8c3d4e5f613
Create Date: 2026-12-01 06:00:08.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import lms.database  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'i9c3d4e5f613'
down_revision = 'i8c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sso_configs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=500), nullable=False),
        sa.Column('client_id', sa.String(length=255), nullable=False),
        sa.Column('client_secret_encrypted', sa.Text(), nullable=False),
        sa.Column('allowed_domains', sa.String(length=1000), nullable=False),
        sa.Column('create_accounts', sa.Boolean(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sso_configs_organization_id_organizations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_configs')),
        sa.UniqueConstraint('organization_id', name=op.f('uq_sso_configs_organization_id')),
    )
    op.create_table(
        'sso_identities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=500), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sso_identities_organization_id_organizations')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sso_identities_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_identities')),
        sa.UniqueConstraint('organization_id', 'issuer', 'subject', name=op.f('uq_sso_identities_organization_id')),
    )
    with op.batch_alter_table('sso_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sso_identities_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sso_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sso_identities_user_id'))
    op.drop_table('sso_identities')
    op.drop_table('sso_configs')

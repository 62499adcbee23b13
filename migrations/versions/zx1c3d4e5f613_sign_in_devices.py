"""sign_in_devices: one row per sign-in on a device. The session and the "Keep me signed in"
cookie carry the row's id and a secret (only its hash is kept), so a copied cookie stops
working once that device signs out, is signed out from the account page, or the password
changes. Remember cookies from before this migration carry no device token and sign nobody
in again (a session already signed in goes on until it ends).

Revision ID: zx1c3d4e5f613
Revises: zw3c3d4e5f613
Create Date: 2026-12-06 22:15:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zx1c3d4e5f613'
down_revision = 'zw3c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('remembered', sa.Boolean(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('expires_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('ended_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('user_agent', sa.String(length=120), nullable=False),
    sa.Column('ip_prefix', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_devices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_devices')),
    sqlite_autoincrement=True,  # ids never reused: a device's end is marked by its id
    )
    with op.batch_alter_table('sign_in_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_devices_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sign_in_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_devices_user_id'))
    op.drop_table('sign_in_devices')

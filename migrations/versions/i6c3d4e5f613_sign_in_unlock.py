"""sign in unlock: one-time links mailed when failed sign-ins lock an account (issue 17 point 2)

Revision ID: i6c3d4e5f613
Revises: i5c3d4e5f613
Create Date: 2026-12-01 06:00:06.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i6c3d4e5f613'
down_revision = 'i5c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_unlock_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('expires_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('used_at', lms.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_unlock_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_unlock_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_unlock_tokens_token_hash'))
    )
    with op.batch_alter_table('login_unlock_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_unlock_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('login_unlock_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_unlock_tokens_user_id'))
    op.drop_table('login_unlock_tokens')

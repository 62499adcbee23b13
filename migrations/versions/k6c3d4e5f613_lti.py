"""lti: LTI 1.3 platforms, deployments, courses mapped to cohorts, linked accounts, resource
links and line items, launch nonces, the tool key and the grade passback queue

Revision ID: k6c3d4e5f613
Revises: k5c3d4e5f613
Create Date: 2026-12-01 10:46:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'k6c3d4e5f613'
down_revision = 'k5c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'lti_platforms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('issuer', sa.String(length=500), nullable=False),
        sa.Column('client_id', sa.String(length=255), nullable=False),
        sa.Column('auth_login_url', sa.String(length=1000), nullable=False),
        sa.Column('auth_token_url', sa.String(length=1000), nullable=False),
        sa.Column('key_set_url', sa.String(length=1000), nullable=False),
        sa.Column('trust_emails', sa.Boolean(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_platforms')),
        sa.UniqueConstraint('issuer', 'client_id', name=op.f('uq_lti_platforms_issuer')),
    )
    op.create_table(
        'lti_tool_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kid', sa.String(length=64), nullable=False),
        sa.Column('private_key_encrypted', sa.Text(), nullable=False),
        sa.Column('public_jwk', sa.JSON(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_tool_keys')),
        sa.UniqueConstraint('kid', name=op.f('uq_lti_tool_keys_kid')),
    )
    op.create_table(
        'lti_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform_id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_accounts_platform_id_lti_platforms')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lti_accounts_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_accounts')),
        sa.UniqueConstraint('platform_id', 'subject', name=op.f('uq_lti_accounts_platform_id')),
    )
    with op.batch_alter_table('lti_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_accounts_user_id'), ['user_id'], unique=False)
    op.create_table(
        'lti_deployments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform_id', sa.Integer(), nullable=False),
        sa.Column('deployment_id', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_deployments_platform_id_lti_platforms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_deployments')),
        sa.UniqueConstraint('platform_id', 'deployment_id', name=op.f('uq_lti_deployments_platform_id')),
    )
    op.create_table(
        'lti_nonces',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform_id', sa.Integer(), nullable=False),
        sa.Column('nonce', sa.String(length=255), nullable=False),
        sa.Column('expires_at', lms.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_nonces_platform_id_lti_platforms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_nonces')),
        sa.UniqueConstraint('platform_id', 'nonce', name=op.f('uq_lti_nonces_platform_id')),
    )
    with op.batch_alter_table('lti_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_nonces_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'lti_contexts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform_id', sa.Integer(), nullable=False),
        sa.Column('context_id', sa.String(length=255), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('cohort_id', sa.Integer(), nullable=True),
        sa.Column('lineitems_url', sa.String(length=1000), nullable=True),
        sa.Column('ags_scopes', sa.String(length=1000), nullable=False),
        sa.Column('memberships_url', sa.String(length=1000), nullable=True),
        sa.Column('roster_synced_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_lti_contexts_cohort_id_cohorts')),
        sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_contexts_platform_id_lti_platforms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_contexts')),
        sa.UniqueConstraint('platform_id', 'context_id', name=op.f('uq_lti_contexts_platform_id')),
    )
    with op.batch_alter_table('lti_contexts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_contexts_cohort_id'), ['cohort_id'], unique=False)
    op.create_table(
        'lti_line_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lti_context_id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=160), nullable=False),
        sa.Column('url', sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(['lti_context_id'], ['lti_contexts.id'], name=op.f('fk_lti_line_items_lti_context_id_lti_contexts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_line_items')),
        sa.UniqueConstraint('lti_context_id', 'target', name=op.f('uq_lti_line_items_lti_context_id')),
    )
    op.create_table(
        'lti_resource_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lti_context_id', sa.Integer(), nullable=False),
        sa.Column('resource_link_id', sa.String(length=255), nullable=False),
        sa.Column('target', sa.String(length=160), nullable=False),
        sa.Column('lineitem_url', sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['lti_context_id'], ['lti_contexts.id'], name=op.f('fk_lti_resource_links_lti_context_id_lti_contexts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_resource_links')),
        sa.UniqueConstraint('lti_context_id', 'resource_link_id', name=op.f('uq_lti_resource_links_lti_context_id')),
    )
    op.create_table(
        'lti_scores',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lti_context_id', sa.Integer(), nullable=False),
        sa.Column('lti_account_id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=160), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('score_given', sa.Float(), nullable=False),
        sa.Column('score_maximum', sa.Float(), nullable=False),
        sa.Column('scored_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', lms.database.UTCDateTime(), nullable=False),
        sa.Column('leased_until', lms.database.UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('sent_at', lms.database.UTCDateTime(), nullable=True),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f('ck_lti_scores_status')),
        sa.ForeignKeyConstraint(['lti_account_id'], ['lti_accounts.id'], name=op.f('fk_lti_scores_lti_account_id_lti_accounts')),
        sa.ForeignKeyConstraint(['lti_context_id'], ['lti_contexts.id'], name=op.f('fk_lti_scores_lti_context_id_lti_contexts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_scores')),
        sa.UniqueConstraint('lti_context_id', 'target', 'lti_account_id', name=op.f('uq_lti_scores_lti_context_id')),
    )
    with op.batch_alter_table('lti_scores', schema=None) as batch_op:
        batch_op.create_index('ix_lti_scores_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('lti_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_scores_status_next_attempt_at')
    op.drop_table('lti_scores')
    op.drop_table('lti_resource_links')
    op.drop_table('lti_line_items')
    with op.batch_alter_table('lti_contexts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_contexts_cohort_id'))
    op.drop_table('lti_contexts')
    with op.batch_alter_table('lti_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_nonces_expires_at'))
    op.drop_table('lti_nonces')
    op.drop_table('lti_deployments')
    with op.batch_alter_table('lti_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_accounts_user_id'))
    op.drop_table('lti_accounts')
    op.drop_table('lti_tool_keys')
    op.drop_table('lti_platforms')

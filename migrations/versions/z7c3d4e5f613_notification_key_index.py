"""notification key index: every user's notice of one occurrence (``announcement:3``,
``discussion-post:12``), read by its key alone, so that deleting or editing an announcement
or hiding a reply takes back or revises its notices (``notifications.services.withdraw``,
``revise``) without reading the whole notifications table: the unique (user_id, key) index
cannot serve a statement that names no user.

Revision ID: z7c3d4e5f613
Revises: y1c3d4e5f613
Create Date: 2026-12-06 14:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'z7c3d4e5f613'
down_revision = 'y1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_notifications_key', 'notifications', ['key'], unique=False)


def downgrade():
    op.drop_index('ix_notifications_key', table_name='notifications')

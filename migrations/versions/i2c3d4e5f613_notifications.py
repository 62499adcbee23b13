"""notifications: the notification centre, preferences per event, daily digests — issue 13 point 1

The value lists of the CHECK constraints are written out, so this migration keeps building
the same schema when an enum gains a member later (that comes with its own migration).

Revision ID: i2c3d4e5f613
Revises: i1c3d4e5f613
Create Date: 2026-12-01 06:00:02.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i2c3d4e5f613'
down_revision = 'i1c3d4e5f613'
branch_labels = None
depends_on = None


EVENTS = ('grade_released', 'returned_for_revision', 'essay_graded', 'peer_review_received', 'feedback_received',
          'due_soon', 'due_tomorrow', 'month_opens', 'certificate_issued', 'awaiting_grading', 'learner_at_risk',
          'feedback_link_answered', 'announcement', 'discussion_reply', 'message')
CHANNELS = ('in_app', 'email', 'digest', 'off')


def _check(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('read_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('mailed_at', lms.database.UTCDateTime(), nullable=True),
    sa.CheckConstraint(_check('event', EVENTS), name=op.f('ck_notifications_event')),
    sa.CheckConstraint(_check('channel', CHANNELS), name=op.f('ck_notifications_channel')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('user_id', 'key', name='uq_notifications_user_id_key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_id_read_at', ['user_id', 'read_at'], unique=False)

    op.create_table('notification_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.CheckConstraint(_check('event', EVENTS), name=op.f('ck_notification_preferences_event')),
    sa.CheckConstraint(_check('channel', CHANNELS), name=op.f('ck_notification_preferences_channel')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_preferences')),
    sa.UniqueConstraint('user_id', 'event', name='uq_notification_preferences_user_id_event')
    )
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_preferences_user_id'), ['user_id'], unique=False)

    op.create_table('notification_digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sent_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_digests_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_digests')),
    sa.UniqueConstraint('user_id', 'day', name='uq_notification_digests_user_id_day')
    )


def downgrade():
    op.drop_table('notification_digests')
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_preferences_user_id'))
    op.drop_table('notification_preferences')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_id_read_at')
    op.drop_table('notifications')

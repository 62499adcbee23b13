"""inbox: a conversation per staff message sent to a learner (lms.inbox), its messages, how
far each person has read each one; and the notifications' new kind of event, a learner's
reply (``message_reply``), in the CHECK constraints of notifications and their preferences.

The value lists are written out, so this migration keeps building the same schema when the
enum gains a member later.

Revision ID: zyac3d4e5f613
Revises: zx6c3d4e5f613
Create Date: 2026-12-07 01:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zyac3d4e5f613'
down_revision = 'zx6c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('grade_released', 'returned_for_revision', 'essay_graded', 'peer_review_received', 'feedback_received',
       'due_soon', 'due_tomorrow', 'month_opens', 'certificate_issued', 'awaiting_grading', 'learner_at_risk',
       'feedback_link_answered', 'announcement', 'discussion_reply', 'message')
NEW = OLD + ('message_reply',)


def _check(values: tuple[str, ...]) -> str:
    return f"event IN ({', '.join(repr(v) for v in values)})"


def _events(values: tuple[str, ...]) -> None:
    for table in ('notifications', 'notification_preferences'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_event'), type_='check')
            batch_op.create_check_constraint(op.f(f'ck_{table}_event'), _check(values))


def upgrade() -> None:
    op.create_table('inbox_conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('last_message_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_inbox_conversations_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['learner_id'], ['users.id'], name=op.f('fk_inbox_conversations_learner_id_users')),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_inbox_conversations_started_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_conversations')),
    sa.UniqueConstraint('source_key', 'learner_id', name='uq_inbox_conversations_source_key_learner_id'),
    )
    with op.batch_alter_table('inbox_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_conversations_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_conversations_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_conversations_started_by_id'), ['started_by_id'], unique=False)
    op.create_table('inbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['inbox_conversations.id'],
                            name=op.f('fk_inbox_messages_conversation_id_inbox_conversations')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_inbox_messages_author_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_messages')),
    sa.UniqueConstraint('author_id', 'token', name='uq_inbox_messages_author_id_token'),
    )
    with op.batch_alter_table('inbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_messages_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_inbox_messages_conversation_id_id', ['conversation_id', 'id'], unique=False)
    op.create_table('inbox_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('read_up_to', sa.Integer(), nullable=False),
    sa.Column('read_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['inbox_conversations.id'],
                            name=op.f('fk_inbox_reads_conversation_id_inbox_conversations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inbox_reads_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_reads')),
    sa.UniqueConstraint('conversation_id', 'user_id', name='uq_inbox_reads_conversation_id_user_id'),
    )
    with op.batch_alter_table('inbox_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_reads_user_id'), ['user_id'], unique=False)
    _events(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE event = 'message_reply'")
    op.execute("DELETE FROM notification_preferences WHERE event = 'message_reply'")
    _events(OLD)
    op.drop_table('inbox_reads')
    op.drop_table('inbox_messages')
    op.drop_table('inbox_conversations')

"""announcements and module discussions (threads, posts, moderation log) — issue 13 points 5 and 6

Revision ID: i4c3d4e5f613
Revises: i3c3d4e5f613
Create Date: 2026-12-01 06:00:04.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i4c3d4e5f613'
down_revision = 'i3c3d4e5f613'
branch_labels = None
depends_on = None

ACTIONS = ('pin', 'unpin', 'lock', 'unlock', 'hide_thread', 'show_thread', 'mark_answer', 'unmark_answer',
           'hide_post', 'show_post')


def upgrade():
    op.create_table('announcements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('publish_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('updated_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('edited_by_id', sa.Integer(), nullable=True),
    sa.Column('notified_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_announcements_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_announcements_author_id_users')),
    sa.ForeignKeyConstraint(['edited_by_id'], ['users.id'], name=op.f('fk_announcements_edited_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcements_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_announcements_publish_at'), ['publish_at'], unique=False)

    op.create_table('announcement_dismissals',
    sa.Column('announcement_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('dismissed_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['announcement_id'], ['announcements.id'],
                            name=op.f('fk_announcement_dismissals_announcement_id_announcements')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_announcement_dismissals_user_id_users')),
    sa.PrimaryKeyConstraint('announcement_id', 'user_id', name=op.f('pk_announcement_dismissals'))
    )

    op.create_table('discussion_threads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('module_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('last_post_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('hidden_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_discussion_threads_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_discussion_threads_module_id_modules')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_discussion_threads_author_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_threads'))
    )
    with op.batch_alter_table('discussion_threads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_threads_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discussion_threads_module_id'), ['module_id'], unique=False)

    op.create_table('discussion_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('opening', sa.Boolean(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('edited_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('is_answer', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('hidden_reason', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['discussion_threads.id'], name=op.f('fk_discussion_posts_thread_id_discussion_threads')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_discussion_posts_author_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_posts'))
    )
    with op.batch_alter_table('discussion_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_posts_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discussion_posts_author_id'), ['author_id'], unique=False)

    op.create_table('discussion_moderations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_discussion_moderations_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['thread_id'], ['discussion_threads.id'],
                            name=op.f('fk_discussion_moderations_thread_id_discussion_threads')),
    sa.ForeignKeyConstraint(['post_id'], ['discussion_posts.id'], name=op.f('fk_discussion_moderations_post_id_discussion_posts')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_discussion_moderations_actor_id_users')),
    sa.CheckConstraint(f"action IN ({', '.join(repr(a) for a in ACTIONS)})", name=op.f('ck_discussion_moderations_action')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_moderations'))
    )
    with op.batch_alter_table('discussion_moderations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_moderations_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discussion_moderations_thread_id'), ['thread_id'], unique=False)


def downgrade():
    for table, indexes in (('discussion_moderations', ('cohort_id', 'thread_id')),
                           ('discussion_posts', ('thread_id', 'author_id')),
                           ('discussion_threads', ('cohort_id', 'module_id'))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
        op.drop_table(table)
    op.drop_table('announcement_dismissals')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_announcements_publish_at'))
        batch_op.drop_index(batch_op.f('ix_announcements_cohort_id'))
    op.drop_table('announcements')

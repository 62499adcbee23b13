"""The notifications' new kind of event, a thread started in a cohort's module discussions
(``discussion_thread``: its instructors are told, so a learner's question does not wait
unseen), in the CHECK constraints of notifications and their preferences.

The value lists are written out, so this migration keeps building the same schema when the
enum gains a member later.

Revision ID: zzn1c3d4e5f613
Revises: zzw1c3d4e5f613
Create Date: 2026-12-07 07:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzn1c3d4e5f613'
down_revision = 'zzw1c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('grade_released', 'returned_for_revision', 'essay_graded', 'peer_review_received', 'feedback_received',
       'due_soon', 'due_tomorrow', 'month_opens', 'certificate_issued', 'awaiting_grading', 'learner_at_risk',
       'feedback_link_answered', 'announcement', 'discussion_reply', 'message', 'message_reply')
NEW = OLD + ('discussion_thread',)


def _check(values: tuple[str, ...]) -> str:
    return f"event IN ({', '.join(repr(v) for v in values)})"


def _events(values: tuple[str, ...]) -> None:
    for table in ('notifications', 'notification_preferences'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_event'), type_='check')
            batch_op.create_check_constraint(op.f(f'ck_{table}_event'), _check(values))


def upgrade() -> None:
    _events(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE event = 'discussion_thread'")
    op.execute("DELETE FROM notification_preferences WHERE event = 'discussion_thread'")
    _events(OLD)

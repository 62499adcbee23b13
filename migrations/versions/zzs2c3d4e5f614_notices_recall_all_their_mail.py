"""withdrawn notices recall all their unsent mail; the awaiting-grading counts kept as data

- ``outbox_messages.retry_at``: the next try a failed try set. A message whose next
  attempt still says it waits out that wait (nobody holds it), so a recall cancels it; a
  claim moves the next attempt a lease ahead, off it. Filled here for the messages
  waiting after a failed try.
- ``notifications.digest_id``: the digest email listing the notice, so that taking the
  notice back recalls an unsent digest (one of the rest queued in its place). Digests
  queued before this revision name none of their notices and are sent as they are.
- ``notifications.counts``: what a notice told as numbers (the day's work awaiting
  grading: ``{"work": w, "essays": e}``), filled here from the titles of the
  awaiting-grading notices made before, which were read back with a pattern until now.

Revision ID: zzs2c3d4e5f614
Revises: zzq2c3d4e5f614
Create Date: 2026-12-07 16:40:00.000000

"""
import re
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzs2c3d4e5f614'
down_revision = 'zzq2c3d4e5f614'
branch_labels = None
depends_on = None

# The title ``lms.notifications.reminders`` gave the notice of work awaiting grading until now.
AWAITING_TITLE = re.compile(r"^(?:(\d+) pieces? of work)?(?: and )?(?:(\d+) quiz attempts? with essays)? awaits? grading$")
CHUNK = 500

notifications = sa.table('notifications', sa.column('id', sa.Integer), sa.column('event', sa.String),
                         sa.column('title', sa.String), sa.column('counts', sa.JSON))


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(), nullable=True))
    # A pending message tried before waits out its wait, or (rarely, during the upgrade) is
    # being tried again: either way its next try is the one its last failure set or later.
    op.execute("UPDATE outbox_messages SET retry_at = next_attempt_at "
               "WHERE status = 'pending' AND attempts > 0 AND next_attempt_at IS NOT NULL")

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('counts', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_digest_id'), ['digest_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_digest_id_outbox_messages'), 'outbox_messages',
                                    ['digest_id'], ['id'], ondelete='SET NULL')

    told = defaultdict(list)  # (work, essays) -> the notices that told them
    connection = op.get_bind()
    for notice_id, title in connection.execute(sa.select(notifications.c.id, notifications.c.title)
                                               .where(notifications.c.event == 'awaiting_grading')):
        found = AWAITING_TITLE.match(title)
        if found is not None and any(found.groups()):
            told[(int(found.group(1) or 0), int(found.group(2) or 0))].append(notice_id)
    for (work, essays), ids in told.items():
        for start in range(0, len(ids), CHUNK):
            connection.execute(notifications.update().where(notifications.c.id.in_(ids[start:start + CHUNK]))
                               .values(counts={"work": work, "essays": essays}))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_digest_id_outbox_messages'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_digest_id'))
        batch_op.drop_column('counts')
        batch_op.drop_column('digest_id')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('retry_at')

"""recall queued notice mail: an outbox message may name what it tells of (``recall_key``, a
notice's key), so withdrawing the notice cancels the message while it is still unsent; a
cancelled message keeps its row, with status ``cancelled`` and when (``cancelled_at``), as
the record that it was never sent.

Revision ID: zzo2c3d4e5f614
Revises: zzr2c3d4e5f614
Create Date: 2026-12-07 14:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from lms.database import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'zzo2c3d4e5f614'
down_revision = 'zzr2c3d4e5f614'
branch_labels = None
depends_on = None

OLD = ('pending', 'sent', 'failed')
NEW = OLD + ('cancelled',)


def _condition(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recall_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_recall_key'), ['recall_key'], unique=False)
        batch_op.drop_constraint(op.f('ck_outbox_messages_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_messages_status'), _condition(NEW))


def downgrade() -> None:
    # A cancelled message was never sent: the older schema has no word for it, so it goes.
    op.execute("DELETE FROM outbox_messages WHERE status = 'cancelled'")
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_messages_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_messages_status'), _condition(OLD))
        batch_op.drop_index(batch_op.f('ix_outbox_messages_recall_key'))
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('recall_key')

"""What is kept of a message once handled: an outbox message's ``redacted_body`` (its body
with the one-time links blanked, None when it has none), which replaces the body once the
message is sent, so no usable reset, unlock or invitation link stays in the table; and a
webhook delivery's ``response_excerpt``, the start of the receiver's answer to a delivery
that succeeded (a failure's answer was already kept in its error).

Revision ID: zzc2c3d4e5f614
Revises: zzn1c3d4e5f613
Create Date: 2026-12-07 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzc2c3d4e5f614'
down_revision = 'zzn1c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redacted_body', sa.Text(), nullable=True))
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_excerpt', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('response_excerpt')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('redacted_body')

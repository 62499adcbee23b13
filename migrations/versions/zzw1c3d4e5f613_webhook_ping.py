"""webhook deliveries may carry the ``ping`` event: the test event an organization admin
sends from an endpoint's page ("Send test event"). Endpoints never subscribe to it.

Revision ID: zzw1c3d4e5f613
Revises: zyt5c3d4e5f613
Create Date: 2026-12-07 07:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzw1c3d4e5f613'
down_revision = 'zyt5c3d4e5f613'
branch_labels = None
depends_on = None

OLD = ('grade.released', 'mastery.level_changed', 'learner.at_risk', 'certificate.issued', 'enrolment.accepted')
NEW = OLD + ('ping',)


def _condition(values: tuple[str, ...]) -> str:
    return f"event IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webhook_deliveries_event'), type_='check')
        batch_op.create_check_constraint(op.f('ck_webhook_deliveries_event'), _condition(NEW))


def downgrade() -> None:
    # Test events are only a log of tries: they go with the older schema.
    op.execute("DELETE FROM webhook_deliveries WHERE event = 'ping'")
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webhook_deliveries_event'), type_='check')
        batch_op.create_check_constraint(op.f('ck_webhook_deliveries_event'), _condition(OLD))

"""xAPI event base: each statement in the outbox keeps the key of the event it is about
(``xapi_statements.event_base``, indexed): its own key, or for a corrected "submitted"
statement (``<key>:late:<value>:<time>``, sent when work's lateness changed after the
hand-in) the key of the first statement. A lateness change found the statements to void
with ``event_key LIKE '<key>:%'``, which no index serves, reading the whole outbox each
time; it now asks for ``event_base IN (...)`` through the index.

Existing statements are filled in one UPDATE: a corrected statement's base is its key up
to ``:late:``, every other statement's its own key.

Revision ID: zys4c3d4e5f613
Revises: zyr3c3d4e5f613
Create Date: 2026-12-07 04:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zys4c3d4e5f613'
down_revision = 'zyr3c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_base', sa.String(length=200), nullable=True))
    conn = op.get_bind()
    find = "strpos" if conn.dialect.name == "postgresql" else "instr"  # the 1-based position of ':late:', 0 if none
    conn.execute(sa.text(
        f"UPDATE xapi_statements SET event_base = CASE "
        f"WHEN event_key LIKE 'submission:%' AND {find}(event_key, ':late:') > 0 "
        f"THEN substr(event_key, 1, {find}(event_key, ':late:') - 1) ELSE event_key END"))
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.alter_column('event_base', existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index('ix_xapi_statements_event_base', ['event_base'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.drop_index('ix_xapi_statements_event_base')
        batch_op.drop_column('event_base')

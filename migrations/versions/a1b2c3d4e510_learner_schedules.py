"""per-learner schedule (joining date and pace) — issue 10 point 3

Revision ID: a1b2c3d4e510
Revises: 92d8ffe27028
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1b2c3d4e510'
down_revision = '92d8ffe27028'
branch_labels = None
depends_on = None


PACES = "pace IN ('catch_up', 'own_start')"


def upgrade():
    for table in ('enrolments', 'invitations'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('pace', sa.String(length=20), nullable=False, server_default='catch_up'))
            batch_op.create_check_constraint(op.f(f'ck_{table}_pace'), PACES)


def downgrade():
    for table in ('invitations', 'enrolments'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_pace'), type_='check')
            batch_op.drop_column('pace')

"""schedule overrides can be removed: ``removed_at`` and ``removed_by_id`` on
``schedule_overrides``. Staff remove a learner's extension from the learner's page (before,
nothing took one away: only a newer, shorter grant replaced it); a removed override stays
listed, marked removed, and no longer applies, nor does any earlier one it had replaced.
Existing rows are not removed.

Revision ID: zx8c3d4e5f613
Revises: zybc3d4e5f613
Create Date: 2026-12-07 01:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zx8c3d4e5f613'
down_revision = 'zybc3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('schedule_overrides', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', lms.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('removed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_schedule_overrides_removed_by_id_users'), 'users', ['removed_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('schedule_overrides', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_schedule_overrides_removed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('removed_by_id')
        batch_op.drop_column('removed_at')

"""organization admins: since when each person administers the organization

An organization admin had no way to see who else manages it, or since when; the list page
shows each admin's name, email and this date. Rows from before are left empty (the page
says the date was not recorded).

Revision ID: zzk2c3d4e5f614
Revises: zzd2c3d4e5f614
Create Date: 2026-12-07 11:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zzk2c3d4e5f614'
down_revision = 'zzd2c3d4e5f614'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organization_admins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_at', lms.database.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organization_admins', schema=None) as batch_op:
        batch_op.drop_column('added_at')

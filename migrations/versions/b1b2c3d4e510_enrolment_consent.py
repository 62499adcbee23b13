"""consent on enrolment, invited not joined — issue 10 point 6

An invitation can be sent again (a new link and a new expiry): remember when.

Revision ID: b1b2c3d4e510
Revises: a1b2c3d4e510
Create Date: 2026-11-30 23:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'b1b2c3d4e510'
down_revision = 'a1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resent_at', lms.database.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('resent_at')

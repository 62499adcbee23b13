"""mastery below since — issue 14 point 2: each mastery record keeps when its level last went
below the program's at-risk bar (and stayed there), written with the level, so the heat map,
its exports and a learner's at-risk page date a "below the bar" reason from the record instead
of replaying the learner's evidence. The column starts empty: run ``flask lms rebuild-mastery``
once after upgrading an existing database (until then such reasons are dated from the day the
objective's modules closed, as when no date is known).

Revision ID: n1c3d4e5f613
Revises: m2c3d4e5f613
Create Date: 2026-12-02 12:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'n1c3d4e5f613'
down_revision = 'm2c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mastery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('below_since', lms.database.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mastery', schema=None) as batch_op:
        batch_op.drop_column('below_since')

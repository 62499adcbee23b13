"""kpi first recorded: each KPI figure keeps when it was first recorded, as well as when it
was last typed (``recorded_at``, which a correction moves). A learner's first month for a
metric is their baseline, and a later month counts as evidence only when recorded at least
four weeks after the baseline was first recorded (``lms.kpi.services``): a correction of the
baseline must not restart that clock.

Existing figures are filled from ``recorded_at``, the best record there is of when they
were first typed. KPI evidence already stored stays as an earlier rule judged it until the
learner records the metric again, or until ``flask lms rejudge-kpi`` judges every figure
again (run it once after this migration: the README's per-release steps).

Revision ID: zzd2c3d4e5f614
Revises: zzc2c3d4e5f614
Create Date: 2026-12-07 10:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zzd2c3d4e5f614'
down_revision = 'zzc2c3d4e5f614'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('kpi_entries', sa.Column('first_recorded_at', lms.database.UTCDateTime(), nullable=True))
    op.execute("UPDATE kpi_entries SET first_recorded_at = recorded_at")
    with op.batch_alter_table('kpi_entries', schema=None) as batch_op:
        batch_op.alter_column('first_recorded_at', existing_type=lms.database.UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('kpi_entries', schema=None) as batch_op:
        batch_op.drop_column('first_recorded_at')

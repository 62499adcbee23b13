"""peer review kind and one live review per reviewer and work: a review is required (one of
the k each learner who hands in reviews, or one their instructor gave them) or an extra the
learner asked for once theirs were done (optional); and a unique index over the reviews not
cancelled, so that a reviewer never holds two live reviews of one piece of work (two asks at
once could make them). Existing reviews are required. A duplicate already made by such a race
is cancelled first: the one done (else the first made) stays.

Revision ID: zv2c3d4e5f613
Revises: zv1c3d4e5f613
Create Date: 2026-12-06 19:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zv2c3d4e5f613'
down_revision = 'zv1c3d4e5f613'
branch_labels = None
depends_on = None

KINDS = "kind IN ('required', 'extra')"
LIVE = "status <> 'cancelled'"


def upgrade() -> None:
    with op.batch_alter_table('peer_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='required'))
        batch_op.create_check_constraint(op.f('ck_peer_reviews_kind'), KINDS)
    # The live duplicates of a (work, reviewer) pair but the one to keep: done before assigned, then the first made.
    op.execute(sa.text(
        "UPDATE peer_reviews SET status = 'cancelled' WHERE status <> 'cancelled' AND EXISTS ("
        " SELECT 1 FROM peer_reviews AS kept WHERE kept.submission_id = peer_reviews.submission_id"
        " AND kept.reviewer_id = peer_reviews.reviewer_id AND kept.status <> 'cancelled' AND kept.id <> peer_reviews.id"
        " AND (kept.status = 'done' AND peer_reviews.status <> 'done'"
        "      OR (kept.status = 'done') = (peer_reviews.status = 'done') AND kept.id < peer_reviews.id))"))
    op.create_index('uq_peer_reviews_live_reviewer', 'peer_reviews', ['submission_id', 'reviewer_id'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))


def downgrade() -> None:
    op.drop_index('uq_peer_reviews_live_reviewer', table_name='peer_reviews')
    with op.batch_alter_table('peer_reviews', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_peer_reviews_kind'), type_='check')
        batch_op.drop_column('kind')

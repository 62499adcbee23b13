"""mastery held: each mastery record keeps whether its level is held just under the top named
level ("mastered") for want of evidence (``mastery_min_weight``), written with the level, so
the heat map, its exports and the staff view of a learner mark a held cell from the record
(a held 3.4 and a 3.4 the evidence gives cannot be told apart from the level alone).

Existing records are filled here from what they keep and their evidence: held where the level
is exactly the hold (3.4 under 3.5), the counted evidence weighs less than the minimum and
some counted piece reaches the top threshold. A level the evidence itself makes exactly 3.4 on
such evidence would read held too (rare): ``flask lms rebuild-mastery`` makes every record
exact. The rule (``lms.progress.methods``) is copied here, not imported, so that this
migration does what it did when it was written.

Revision ID: zu1c3d4e5f613
Revises: zt2c3d4e5f613
Create Date: 2026-12-06 17:40:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zu1c3d4e5f613'
down_revision = 'zt2c3d4e5f613'
branch_labels = None
depends_on = None

DEFAULT_THRESHOLDS = {"not yet": 0.0, "developing": 1.5, "proficient": 2.5, "mastered": 3.5}
DEFAULT_MIN_WEIGHT = 2.0
HOLD_MARGIN = 0.1
WEIGHT_SLACK = 1e-9


def _loaded(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def upgrade() -> None:
    # Not batch mode: SQLite adds the column in place, and the triggers on mastery stay.
    op.add_column('mastery', sa.Column('held', sa.Boolean(), nullable=False, server_default=sa.false()))
    conn = op.get_bind()
    policy = conn.execute(sa.text("SELECT settings, thresholds FROM mastery_policies WHERE retired_at IS NULL "
                                  "ORDER BY id LIMIT 1")).first()
    settings = _loaded(policy[0]) if policy else {}
    thresholds = _loaded(policy[1]) if policy else {}
    min_weight = float(settings.get("mastery_min_weight", DEFAULT_MIN_WEIGHT))
    bounds = sorted(float(b) for b in (thresholds or DEFAULT_THRESHOLDS).values())
    if min_weight <= 0 or not bounds:
        return  # the rule is off: nothing is held
    top = bounds[-1]
    held_at = round(max(top - HOLD_MARGIN, bounds[-2] if len(bounds) > 1 else 0.0), 4)
    conn.execute(sa.text(
        "UPDATE mastery SET held = :yes WHERE level = :held_at "
        "AND (SELECT COALESCE(SUM(e.weight), 0) FROM evidence e WHERE e.user_id = mastery.user_id "
        "     AND e.objective_id = mastery.objective_id AND e.weight > 0) + :slack < :min_weight "
        "AND EXISTS (SELECT 1 FROM evidence e WHERE e.user_id = mastery.user_id "
        "     AND e.objective_id = mastery.objective_id AND e.weight > 0 AND e.level >= :top)"
    ).bindparams(sa.bindparam("yes", type_=sa.Boolean())),
        {"yes": True, "held_at": held_at, "slack": WEIGHT_SLACK, "min_weight": min_weight, "top": top})


def downgrade() -> None:
    op.drop_column('mastery', 'held')  # in place on SQLite too (3.35+): the triggers on mastery stay

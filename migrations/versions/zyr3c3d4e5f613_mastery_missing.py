"""mastery missing: each mastery record keeps, while its level is held just under the top
named level ("mastered"), how much more staff-checked evidence weight it needs
(``MasteryMethod.missing``), written with the level, so the heat map and its exports say
what a held cell waits for ("needs one more piece of staff-checked evidence") as the
learner's and staff pages do, from the same row and statement as before.

Existing held records are filled here from their evidence: the minimum weight less the
weight of the counted evidence (weight above 0). Evidence that does not add to the minimum
(a rater's second judgement, unvouched sources) counts here, so a held record may read a
little less missing than it is: ``flask lms rebuild-mastery`` makes every record exact. The
defaults are copied here, not imported, so that this migration does what it did when it
was written.

Revision ID: zyr3c3d4e5f613
Revises: zyp1c3d4e5f613
Create Date: 2026-12-07 02:10:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zyr3c3d4e5f613'
down_revision = 'zyp1c3d4e5f613'
branch_labels = None
depends_on = None

DEFAULT_MIN_WEIGHT = 2.0


def _loaded(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def upgrade() -> None:
    # Not batch mode: SQLite adds the column in place, and the triggers on mastery stay.
    op.add_column('mastery', sa.Column('missing', sa.Float(), nullable=False, server_default='0'))
    conn = op.get_bind()
    policy = conn.execute(sa.text("SELECT settings FROM mastery_policies WHERE retired_at IS NULL "
                                  "ORDER BY id LIMIT 1")).first()
    settings = _loaded(policy[0]) if policy else {}
    min_weight = float(settings.get("mastery_min_weight", DEFAULT_MIN_WEIGHT))
    if min_weight <= 0:
        return  # the rule is off: nothing is held
    conn.execute(sa.text(
        "UPDATE mastery SET missing = :min_weight - (SELECT COALESCE(SUM(e.weight), 0) FROM evidence e "
        "     WHERE e.user_id = mastery.user_id AND e.objective_id = mastery.objective_id AND e.weight > 0) "
        "WHERE held = :yes"
    ).bindparams(sa.bindparam("yes", type_=sa.Boolean())), {"yes": True, "min_weight": min_weight})
    conn.execute(sa.text("UPDATE mastery SET missing = 0 WHERE missing < 0"))


def downgrade() -> None:
    op.drop_column('mastery', 'missing')  # in place on SQLite too (3.35+): the triggers on mastery stay

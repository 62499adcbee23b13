"""clean stored names: names stored before the one rule for a person's name
(``lms.accounts.services.person_name``) may hold characters nobody sees (zero-width spaces,
direction overrides such as U+202E, controls), which make two people look alike or turn the
text around them. Each stored name is cleaned with the same rule (``tidy_name``: controls,
format characters and lone surrogates taken out but the zero-width non-joiner and joiner,
which Persian and Indic names need; whitespace runs one space; the ends stripped); a name
left with no letter or digit becomes "Learner <id>". Data only; going back keeps the
cleaned names (the invisible characters are not worth restoring).

The rule is copied here, not imported, so that this migration does what it did when it was
written whatever the application's code becomes.

Revision ID: zt2c3d4e5f613
Revises: zt1c3d4e5f613
Create Date: 2026-12-06 17:05:00.000000

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zt2c3d4e5f613'
down_revision = 'zt1c3d4e5f613'
branch_labels = None
depends_on = None

INVISIBLE = frozenset({"Cc", "Cf", "Cs"})
JOINERS = frozenset({"\u200c", "\u200d"})
CHUNK = 1000

users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String))


def tidy_name(raw: str) -> str:
    """``lms.accounts.services.tidy_name`` as it was when this migration was written."""
    kept = "".join(ch for ch in raw if ch.isspace() or ch in JOINERS or unicodedata.category(ch) not in INVISIBLE)
    name = " ".join(kept.split())
    return name if any(unicodedata.category(ch)[0] in "LN" for ch in name) else ""


def cleaned(user_id: int, name: str) -> str:
    return tidy_name(name) or f"Learner {user_id}"


def upgrade():
    conn = op.get_bind()
    after = 0
    while True:  # a chunk of users at a time, by id: memory stays flat whatever their number
        rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id > after)
                            .order_by(users.c.id).limit(CHUNK)).all()
        if not rows:
            return
        after = rows[-1].id
        changed = [{"user_id": row.id, "cleaned": cleaned(row.id, row.name or "")} for row in rows]
        changed = [c for c, row in zip(changed, rows, strict=True) if c["cleaned"] != row.name]
        if changed:
            conn.execute(users.update().where(users.c.id == sa.bindparam("user_id")).values(name=sa.bindparam("cleaned")),
                         changed)


def downgrade():
    pass  # the cleaned names stay: the characters taken out were never meant to be kept

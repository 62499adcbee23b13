"""blank sent one-time links: mail sent before ``zzc2c3d4e5f614`` still holds its one-time
links in the stored body (a password reset, a sign-in unlock, an invitation, a stakeholder's
or an expert's rating link), readable by anyone who reads the outbox table or a backup. Each
sent message's links to those pages (``/password/reset/<token>``, ``/login/unlock/<token>``,
``/invitations/<token>``, ``/f/<token>``, ``/e/<token>``, under any site address) are
replaced by the blank the outbox uses now (``lms.mail.models.REDACTED``); a message not sent
yet gets its blanked copy (``redacted_body``), which replaces its body once it is sent. Data
only, in Python (the same on SQLite and PostgreSQL), a page of messages at a time; running
it again changes nothing. Going back leaves the blanks: a used link cannot be put back.

Revision ID: zzm2c3d4e5f614
Revises: zzk2c3d4e5f614
Create Date: 2026-12-07 11:40:00.000000

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzm2c3d4e5f614'
down_revision = 'zzk2c3d4e5f614'
branch_labels = None
depends_on = None

REDACTED = "[one-time link removed]"  # lms.mail.models.REDACTED when this was written
PATHS = ("password/reset", "login/unlock", "invitations", "f", "e")  # the routes whose URL carries a one-time token
# A link to one of them: the site's address (any, with or without a path prefix) or a bare
# site path, then the path and its token, up to the next space.
ONE_TIME = re.compile(r"(?:https?://[^\s/]+(?:/[^\s]*?)?|(?<!\S))/(?:" + "|".join(re.escape(p) for p in PATHS) + r")/[^\s/]+")
PAGE = 500

messages = sa.table(
    'outbox_messages',
    sa.column('id', sa.Integer), sa.column('body', sa.Text), sa.column('redacted_body', sa.Text),
    sa.column('status', sa.String),
)


def blanked(body: str) -> str:
    """``body`` with each one-time link replaced by the blank (trailing punctuation kept)."""
    def blank(match: re.Match[str]) -> str:
        link = match.group(0)
        kept = link.rstrip(".,;:)")
        return REDACTED + link[len(kept):]
    return ONE_TIME.sub(blank, body)


def upgrade() -> None:
    bind = op.get_bind()
    maybe = sa.or_(*(messages.c.body.like(f"%/{path}/%") for path in PATHS))
    last = 0
    while True:
        rows = bind.execute(sa.select(messages.c.id, messages.c.body, messages.c.redacted_body, messages.c.status)
                            .where(messages.c.id > last, maybe).order_by(messages.c.id).limit(PAGE)).all()
        if not rows:
            break
        last = rows[-1].id
        sent, unsent = [], []
        for row in rows:
            kept = blanked(row.body)
            if kept == row.body:
                continue
            if row.status == 'sent':
                sent.append({"key": row.id, "kept": kept})
            elif row.redacted_body is None:
                unsent.append({"key": row.id, "kept": kept})
        if sent:
            bind.execute(sa.update(messages).where(messages.c.id == sa.bindparam("key"))
                         .values(body=sa.bindparam("kept"), redacted_body=None), sent)
        if unsent:
            bind.execute(sa.update(messages).where(messages.c.id == sa.bindparam("key"))
                         .values(redacted_body=sa.bindparam("kept")), unsent)


def downgrade() -> None:
    pass  # a blanked link cannot be put back (and must not be)

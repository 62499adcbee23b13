"""organization admins since, from the audit log: administrators added before
``zzk2c3d4e5f614`` have no ``added_at`` (the list says "not recorded"). The audit log records
every change of an organization's administrators since it was kept (``organization_edited``,
the administrators' ids before and after): an administrator whose latest change in the log
added them gets that entry's time. One added before the log was kept, or whose latest entry
does not add them, stays "not recorded". Data only, in Python (the same on SQLite and
PostgreSQL); running it again changes nothing. Going back leaves the dates (they are true).

Revision ID: zzp2c3d4e5f614
Revises: zzo2c3d4e5f614
Create Date: 2026-12-07 14:00:00.000000

"""
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'zzp2c3d4e5f614'
down_revision = 'zzo2c3d4e5f614'
branch_labels = None
depends_on = None

EDITED = "organization_edited"  # lms.audit.models.AuditAction.ORGANIZATION_EDITED when this was written

admins = sa.table('organization_admins', sa.column('organization_id', sa.Integer), sa.column('user_id', sa.Integer),
                  sa.column('added_at', lms.database.UTCDateTime()))
audit = sa.table('audit_log', sa.column('id', sa.Integer), sa.column('created_at', lms.database.UTCDateTime()),
                 sa.column('action', sa.String), sa.column('organization_id', sa.Integer),
                 sa.column('before', sa.JSON), sa.column('after', sa.JSON))


def _ids(state: Any) -> set[int]:
    """The administrators' ids an entry's before or after names (none: no such list)."""
    found = state.get("admins") if isinstance(state, dict) else None
    return {int(i) for i in found if isinstance(i, int)} if isinstance(found, list) else set()


def added_when(entries: list[tuple[datetime, Any, Any]]) -> dict[int, datetime]:
    """User id -> when the latest of ``entries`` (in the order made) that changed their
    administration added them, for those whose latest change added them."""
    latest: dict[int, datetime | None] = {}
    for created_at, before, after in entries:
        old, new = _ids(before), _ids(after)
        for user_id in new - old:
            latest[user_id] = created_at
        for user_id in old - new:
            latest[user_id] = None
    return {user_id: when for user_id, when in latest.items() if when is not None}


def upgrade() -> None:
    bind = op.get_bind()
    missing = bind.execute(sa.select(admins.c.organization_id, admins.c.user_id).where(admins.c.added_at.is_(None))).all()
    orgs = sorted({org_id for org_id, _user_id in missing})
    if not orgs:
        return
    entries: dict[int, list[tuple[datetime, Any, Any]]] = {org_id: [] for org_id in orgs}
    for org_id, created_at, before, after in bind.execute(
            sa.select(audit.c.organization_id, audit.c.created_at, audit.c.before, audit.c.after)
            .where(audit.c.action == EDITED, audit.c.organization_id.in_(orgs))
            .order_by(audit.c.created_at, audit.c.id)):
        entries[org_id].append((created_at, before, after))
    for org_id in orgs:
        found = added_when(entries[org_id])
        for user_id in sorted(user_id for o, user_id in missing if o == org_id and user_id in found):
            bind.execute(sa.update(admins).where(admins.c.organization_id == org_id, admins.c.user_id == user_id,
                                                 admins.c.added_at.is_(None)).values(added_at=found[user_id]))


def downgrade() -> None:
    pass  # the dates are true: going back leaves them

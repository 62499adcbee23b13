"""one webhook endpoint per organization and URL: a unique constraint on
``webhook_endpoints (organization_id, url)``, so registering a URL twice (a double click,
two admins at once) cannot make endpoints that each deliver every event again.

Endpoints registered twice before are kept with their delivery log, but each URL's later
ones are paused and their URL is given a fragment (``#duplicate-<id>``, never sent in an
HTTP request), so the constraint holds and each event goes out once, to the first.

Revision ID: zr2c3d4e5f613
Revises: zr1c3d4e5f613
Create Date: 2026-12-06 14:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zr2c3d4e5f613'
down_revision = 'zr1c3d4e5f613'
branch_labels = None
depends_on = None

URL_LENGTH = 500


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, organization_id, url FROM webhook_endpoints ORDER BY id")).all()
    seen = set()
    for endpoint_id, organization_id, url in rows:
        if (organization_id, url) not in seen:
            seen.add((organization_id, url))
            continue
        suffix = f"#duplicate-{endpoint_id}"
        bind.execute(sa.text("UPDATE webhook_endpoints SET url = :url, active = :active WHERE id = :id"),
                     {"url": url[:URL_LENGTH - len(suffix)] + suffix, "active": False, "id": endpoint_id})
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_webhook_endpoints_organization_id'), ['organization_id', 'url'])


def downgrade():
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_webhook_endpoints_organization_id'), type_='unique')

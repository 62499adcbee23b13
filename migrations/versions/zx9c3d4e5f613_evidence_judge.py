"""evidence's judge: who rated, when a person without an account did (a stakeholder, an
outside expert), as a digest of their address (``lms.progress.sources.judge``). Their later
rating of a learner on an objective replaces their earlier ones in the mastery: one person
rating again is not more evidence.

Existing stakeholder and expert evidence gets its judge from the invitation it answered
(``feedback:<invite id>``, ``expert:<evaluation id>``); run ``flask lms rebuild-mastery``
after upgrading to drop the superseded ratings from the levels.

Revision ID: zx9c3d4e5f613
Revises: zx8c3d4e5f613
Create Date: 2026-12-07 01:10:00.000000

"""
import hashlib

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zx9c3d4e5f613'
down_revision = 'zx8c3d4e5f613'
branch_labels = None
depends_on = None


def _judge(source: str, email: str) -> str:
    """``lms.progress.sources.judge`` as it stands at this revision."""
    return f"{source}:{hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]}"


def upgrade() -> None:
    op.add_column('evidence', sa.Column('judge', sa.String(length=60), nullable=True))
    bind = op.get_bind()
    found = bind.execute(sa.text(
        "SELECT e.id, e.source, i.email FROM evidence e JOIN feedback_invites i "
        "ON e.source_ref = 'feedback:' || CAST(i.id AS VARCHAR(20)) AND e.user_id = i.learner_id "
        "WHERE e.source = 'stakeholder' "
        "UNION ALL "
        "SELECT e.id, e.source, i.email FROM evidence e JOIN expert_evaluations v "
        "ON e.source_ref = 'expert:' || CAST(v.id AS VARCHAR(20)) JOIN expert_invites i ON i.id = v.invite_id "
        "WHERE e.source = 'expert'")).all()
    updates = [{"id": evidence_id, "judge": _judge(source, email)} for evidence_id, source, email in found]
    if updates:
        bind.execute(sa.text("UPDATE evidence SET judge = :judge WHERE id = :id"), updates)


def downgrade() -> None:
    with op.batch_alter_table('evidence') as batch:
        batch.drop_column('judge')

"""operations gaps: the audit log records backups, restores and an admin's mail retries
(three more actions in the ck_audit_log_action CHECK constraint) — issue 17

On SQLite the constraint is replaced by rebuilding the table (batch mode), which drops the
append-only triggers with the old table: they are created again. On PostgreSQL the
constraint is altered in place and the trigger stays.

Revision ID: k8c3d4e5f613
Revises: k7c3d4e5f613
Create Date: 2026-12-01 10:48:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'k8c3d4e5f613'
down_revision = 'k7c3d4e5f613'
branch_labels = None
depends_on = None

OLD_ACTIONS = ('user_deactivated', 'user_reactivated', 'reset_link_sent', 'sessions_ended', 'admin_granted',
               'two_factor_reset', 'two_factor_policy_changed', 'sso_configured', 'data_exported', 'learner_erased',
               'uploads_purged', 'organization_created', 'organization_edited', 'cohort_created', 'cohort_edited',
               'cohort_archived', 'cohort_unarchived', 'learner_enrolled', 'learner_invited', 'invitation_resent',
               'invitation_withdrawn', 'enrolment_imported', 'learner_moved', 'enrolment_ended', 'grade_saved',
               'grade_released', 'grade_returned', 'regraded', 'item_withdrawn', 'override_granted',
               'override_revoked', 'extension_granted')
NEW_ACTIONS = OLD_ACTIONS[:11] + ('backup_written', 'backup_restored', 'mail_retried') + OLD_ACTIONS[11:]

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END",
)


def _check(values: tuple[str, ...]) -> str:
    return f"action IN ({', '.join(repr(v) for v in values)})"


def _replace(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_log_action'), type_='check')
        batch_op.create_check_constraint(op.f('ck_audit_log_action'), _check(values))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade():
    _replace(NEW_ACTIONS)


def downgrade():
    # Entries of the new actions would break the older constraint; the log is append-only.
    bind = op.get_bind()
    found = bind.exec_driver_sql(
        "SELECT count(*) FROM audit_log WHERE action IN ('backup_written', 'backup_restored', 'mail_retried')"
    ).scalar()
    if found:
        raise RuntimeError(f"audit_log holds {found} entries of backups, restores or mail retries, which the older "
                           "schema cannot hold (the log is append-only): not downgrading")
    _replace(OLD_ACTIONS)

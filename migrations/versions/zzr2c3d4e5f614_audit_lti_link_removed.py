"""audit lti link removed: the audit log records an LTI identity link removed by
``flask lms check-lti-links --unlink`` (``lti_link_removed`` in the ck_audit_log_action
CHECK constraint). The links themselves are left as they are: a launch through a link that
breaks the rule (its account outside the organization the course maps to) is refused.

On SQLite the audit log's constraint is replaced by rebuilding the table (batch mode), which
drops the append-only triggers with the old table: they are created again.

Revision ID: zzr2c3d4e5f614
Revises: zzm2c3d4e5f614
Create Date: 2026-12-07 14:10:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zzr2c3d4e5f614'
down_revision = 'zzm2c3d4e5f614'
branch_labels = None
depends_on = None

OLD_ACTIONS = ('user_deactivated', 'user_reactivated', 'reset_link_sent', 'sessions_ended', 'admin_granted',
               'two_factor_reset', 'two_factor_policy_changed', 'sso_configured', 'data_exported',
               'learner_erased', 'uploads_purged', 'backup_written', 'backup_restored', 'mail_retried',
               'organization_created', 'organization_edited', 'cohort_created', 'cohort_edited',
               'cohort_archived', 'cohort_unarchived', 'learner_enrolled', 'learner_invited',
               'invitation_resent', 'invitation_withdrawn', 'enrolment_imported', 'learner_moved',
               'enrolment_ended', 'grade_saved', 'grade_released', 'grade_returned', 'regraded',
               'item_withdrawn', 'override_granted', 'override_revoked', 'extension_granted', 'time_allowance_set',
               'api_token_created', 'api_token_revoked', 'webhook_created', 'webhook_paused', 'webhook_resumed',
               'webhook_secret_rotated', 'certificate_revoked', 'job_run', 'job_retried', 'staff_invited')
ADDED = ('lti_link_removed',)
NEW_ACTIONS = OLD_ACTIONS + ADDED

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _actions(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_log_action'), type_='check')
        batch_op.create_check_constraint(op.f('ck_audit_log_action'), _in('action', values))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade():
    _actions(NEW_ACTIONS)


def downgrade():
    bind = op.get_bind()
    # Entries of the new action would break the older constraint; the log is append-only.
    found = bind.exec_driver_sql(f"SELECT count(*) FROM audit_log WHERE {_in('action', ADDED)}").scalar()
    if found:
        raise RuntimeError(f"audit_log holds {found} entries of LTI links removed, which the older schema cannot hold "
                           "(the log is append-only): not downgrading")
    _actions(OLD_ACTIONS)

"""time allowances: a learner's time on timed quizzes and exams against their limit, an
accommodation staff grant (``enrolments.time_allowance``: standard, 25% or 50% extra,
double, untimed), the minutes each attempt was given (``quiz_attempts.minutes_allowed``,
filled from its quiz's limit for the attempts made before), and the audit log's record of
each change (one more action in the ck_audit_log_action CHECK constraint).

On SQLite the audit log's constraint is replaced by rebuilding the table (batch mode), which
drops the append-only triggers with the old table: they are created again.

Revision ID: x1c3d4e5f613
Revises: w1c3d4e5f613
Create Date: 2026-12-06 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'x1c3d4e5f613'
down_revision = 'w1c3d4e5f613'
branch_labels = None
depends_on = None

ALLOWANCES = ('standard', 'extra_25', 'extra_50', 'double', 'untimed')
OLD_ACTIONS = ('user_deactivated', 'user_reactivated', 'reset_link_sent', 'sessions_ended', 'admin_granted',
               'two_factor_reset', 'two_factor_policy_changed', 'sso_configured', 'data_exported',
               'learner_erased', 'uploads_purged', 'backup_written', 'backup_restored', 'mail_retried',
               'organization_created', 'organization_edited', 'cohort_created', 'cohort_edited',
               'cohort_archived', 'cohort_unarchived', 'learner_enrolled', 'learner_invited',
               'invitation_resent', 'invitation_withdrawn', 'enrolment_imported', 'learner_moved',
               'enrolment_ended', 'grade_saved', 'grade_released', 'grade_returned', 'regraded',
               'item_withdrawn', 'override_granted', 'override_revoked', 'extension_granted')
NEW_ACTIONS = OLD_ACTIONS + ('time_allowance_set',)

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
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_allowance', sa.String(length=10), nullable=False, server_default='standard'))
        batch_op.create_check_constraint(op.f('ck_enrolments_time_allowance'), _in('time_allowance', ALLOWANCES))
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('minutes_allowed', sa.Integer(), nullable=True))
    # The attempts made before had their quiz's limit (or none).
    op.execute("UPDATE quiz_attempts SET minutes_allowed = "
               "(SELECT quizzes.time_limit_minutes FROM quizzes WHERE quizzes.id = quiz_attempts.quiz_id)")
    _actions(NEW_ACTIONS)


def downgrade():
    # Entries of the new action would break the older constraint; the log is append-only.
    found = op.get_bind().exec_driver_sql("SELECT count(*) FROM audit_log WHERE action = 'time_allowance_set'").scalar()
    if found:
        raise RuntimeError(f"audit_log holds {found} entries of time allowances set, which the older schema cannot "
                           "hold (the log is append-only): not downgrading")
    _actions(OLD_ACTIONS)
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_column('minutes_allowed')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_enrolments_time_allowance'), type_='check')
        batch_op.drop_column('time_allowance')

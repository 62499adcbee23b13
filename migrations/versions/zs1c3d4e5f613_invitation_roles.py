"""invitation roles: an invitation makes its owner a learner (as before), an instructor of
its cohort or an administrator of its organization, only when they accept it
(``invitations.role``); each names its organization (``invitations.organization_id``,
filled in from the cohort for the invitations there are), and an organization
administrator's has no cohort. The audit log records a member of staff invited
(``staff_invited`` in the ck_audit_log_action CHECK constraint).

On SQLite the audit log's constraint is replaced by rebuilding the table (batch mode), which
drops the append-only triggers with the old table: they are created again.

Revision ID: zs1c3d4e5f613
Revises: zr4c3d4e5f613
Create Date: 2026-12-06 16:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zs1c3d4e5f613'
down_revision = 'zr4c3d4e5f613'
branch_labels = None
depends_on = None

ROLES = "role IN ('learner', 'instructor', 'organization_admin')"
COHORT_FOR_ROLE = ("(role = 'organization_admin' AND cohort_id IS NULL) OR "
                   "(role <> 'organization_admin' AND cohort_id IS NOT NULL)")

OLD_ACTIONS = ('user_deactivated', 'user_reactivated', 'reset_link_sent', 'sessions_ended', 'admin_granted',
               'two_factor_reset', 'two_factor_policy_changed', 'sso_configured', 'data_exported',
               'learner_erased', 'uploads_purged', 'backup_written', 'backup_restored', 'mail_retried',
               'organization_created', 'organization_edited', 'cohort_created', 'cohort_edited',
               'cohort_archived', 'cohort_unarchived', 'learner_enrolled', 'learner_invited',
               'invitation_resent', 'invitation_withdrawn', 'enrolment_imported', 'learner_moved',
               'enrolment_ended', 'grade_saved', 'grade_released', 'grade_returned', 'regraded',
               'item_withdrawn', 'override_granted', 'override_revoked', 'extension_granted', 'time_allowance_set',
               'api_token_created', 'api_token_revoked', 'webhook_created', 'webhook_paused', 'webhook_resumed',
               'webhook_secret_rotated', 'certificate_revoked', 'job_run', 'job_retried')
ADDED = ('staff_invited',)
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
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=20), nullable=False, server_default='learner'))
    op.execute("UPDATE invitations SET organization_id = "
               "(SELECT cohorts.organization_id FROM cohorts WHERE cohorts.id = invitations.cohort_id)")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('cohort_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_invitations_organization_id_organizations'), 'organizations',
                                    ['organization_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_invitations_organization_id'), ['organization_id'], unique=False)
        batch_op.create_check_constraint(op.f('ck_invitations_role'), ROLES)
        batch_op.create_check_constraint(op.f('ck_invitations_cohort_for_role'), COHORT_FOR_ROLE)
    _actions(NEW_ACTIONS)


def downgrade():
    bind = op.get_bind()
    # Entries of the new action would break the older constraint; the log is append-only.
    found = bind.exec_driver_sql(f"SELECT count(*) FROM audit_log WHERE {_in('action', ADDED)}").scalar()
    if found:
        raise RuntimeError(f"audit_log holds {found} entries of staff invited, which the older schema cannot hold "
                           "(the log is append-only): not downgrading")
    # The older schema knows only learners' invitations to a cohort: the others go.
    op.execute("DELETE FROM invitations WHERE role <> 'learner'")
    _actions(OLD_ACTIONS)
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invitations_cohort_for_role'), type_='check')
        batch_op.drop_constraint(op.f('ck_invitations_role'), type_='check')
        batch_op.drop_index(batch_op.f('ix_invitations_organization_id'))
        batch_op.drop_constraint(batch_op.f('fk_invitations_organization_id_organizations'), type_='foreignkey')
        batch_op.alter_column('cohort_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('role')
        batch_op.drop_column('organization_id')

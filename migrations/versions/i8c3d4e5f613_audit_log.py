"""audit log: the append-only audit_log table (a trigger refuses UPDATE and DELETE) and
users.deactivated_at — issue 17 point 5

The action list of the CHECK constraint is written out, so this migration keeps building the
same schema when the enum gains a member later (that comes with its own migration).

Revision ID: i8c3d4e5f613
Revises: i7c3d4e5f613
Create Date: 2026-12-01 06:00:08.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'i8c3d4e5f613'
down_revision = 'i7c3d4e5f613'
branch_labels = None
depends_on = None

ACTIONS = ('user_deactivated', 'user_reactivated', 'reset_link_sent', 'sessions_ended', 'admin_granted',
           'two_factor_reset', 'two_factor_policy_changed', 'sso_configured', 'data_exported', 'learner_erased',
           'uploads_purged', 'organization_created', 'organization_edited', 'cohort_created', 'cohort_edited',
           'cohort_archived', 'cohort_unarchived', 'learner_enrolled', 'learner_invited', 'invitation_resent',
           'invitation_withdrawn', 'enrolment_imported', 'learner_moved', 'enrolment_ended', 'grade_saved',
           'grade_released', 'grade_returned', 'regraded', 'item_withdrawn', 'override_granted', 'override_revoked',
           'extension_granted')

SQLITE_UP = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END",
)
SQLITE_DOWN = ("DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete")
POSTGRESQL_UP = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only: rows cannot be %', lower(TG_OP) || 'd' "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
)
POSTGRESQL_DOWN = (
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
)


def _check(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('before', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('after', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.CheckConstraint(_check('action', ACTIONS), name=op.f('ck_audit_log_action')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_audit_log_organization_id_created_at', ['organization_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_audit_log_actor_id_created_at', ['actor_id', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_log_action_created_at', ['action', 'created_at'], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP}.get(dialect, ()):
        op.execute(statement)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', lms.database.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN}.get(dialect, ()):
        op.execute(statement)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_created_at')
        batch_op.drop_index('ix_audit_log_actor_id_created_at')
        batch_op.drop_index('ix_audit_log_organization_id_created_at')
        batch_op.drop_index('ix_audit_log_created_at')
    op.drop_table('audit_log')

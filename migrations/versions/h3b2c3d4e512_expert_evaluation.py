"""expert evaluation: invitations of outside experts and their rubric ratings — issue 12 point 6

An outside expert, invited by a single-use link, rates a submission against its rubric and
states their credentials; the rating is evidence from the new ``expert`` source.

Revision ID: h3b2c3d4e512
Revises: h2b2c3d4e512
Create Date: 2026-12-01 04:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'h3b2c3d4e512'
down_revision = 'h2b2c3d4e512'
branch_labels = None
depends_on = None


OLD_SOURCES = ('quiz', 'practice', 'rubric', 'case_study', 'peer', 'rating', 'stakeholder', 'kpi')
NEW_SOURCES = OLD_SOURCES + ('expert',)


def _sources(values: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(NEW_SOURCES))

    op.create_table('expert_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('rubric_version_id', sa.Integer(), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('expires_at', lms.database.UTCDateTime(), nullable=False),
    sa.Column('used_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', lms.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_expert_invites_invited_by_id_users')),
    sa.ForeignKeyConstraint(['rubric_version_id'], ['rubric_versions.id'],
                            name=op.f('fk_expert_invites_rubric_version_id_rubric_versions')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_expert_invites_submission_id_submissions')),
    sa.ForeignKeyConstraint(['version_id'], ['submission_versions.id'],
                            name=op.f('fk_expert_invites_version_id_submission_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_invites')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_expert_invites_token_hash'))
    )
    with op.batch_alter_table('expert_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_invites_invited_by_id'), ['invited_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_invites_submission_id'), ['submission_id'], unique=False)

    op.create_table('expert_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invite_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=200), nullable=False),
    sa.Column('organization', sa.String(length=200), nullable=False),
    sa.Column('years', sa.Integer(), nullable=False),
    sa.Column('qualification', sa.Text(), nullable=False),
    sa.Column('selections', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('max_score', sa.Float(), nullable=False),
    sa.Column('submitted_at', lms.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['invite_id'], ['expert_invites.id'], name=op.f('fk_expert_evaluations_invite_id_expert_invites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_evaluations')),
    sa.UniqueConstraint('invite_id', name=op.f('uq_expert_evaluations_invite_id'))
    )


def downgrade():
    op.drop_table('expert_evaluations')
    with op.batch_alter_table('expert_invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_invites_submission_id'))
        batch_op.drop_index(batch_op.f('ix_expert_invites_invited_by_id'))
    op.drop_table('expert_invites')
    op.execute(f"DELETE FROM evidence WHERE source NOT IN ({', '.join(repr(v) for v in OLD_SOURCES)})")
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_source'), _sources(OLD_SOURCES))

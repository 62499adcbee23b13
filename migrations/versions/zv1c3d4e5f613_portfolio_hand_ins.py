"""portfolio hand-ins: each hand-in of a portfolio for its level's review keeps what was
handed in (``portfolio_hand_ins``, one a version of the review submission): the reflections
as written and the chosen pieces of work in the learner's order, each at the version of the
work it pointed at (``portfolio_hand_in_pieces``). The grading page read the portfolio as it
is now, so a learner changing their choice during a return changed what the instructor saw
as handed in, and a piece taken back dropped off a review already graded.

Existing hand-ins are filled here from the portfolio as it is when this runs, the one record
there is: every version of a portfolio review gets its portfolio's current choice and
reflections, each chosen piece at its newest version handed in at or before that version
(as the grading page showed it), a piece with none then left out. An earlier version handed
in before a return may have held other pieces or other reflections; its own text (the
version's body, which names them) is unchanged and stays what it was. A review with no
portfolio (the volume generator makes such) gets no record, and shows no pieces, as before.

Revision ID: zv1c3d4e5f613
Revises: zu1c3d4e5f613
Create Date: 2026-12-06 19:12:31.444349

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zv1c3d4e5f613'
down_revision = 'zu1c3d4e5f613'
branch_labels = None
depends_on = None


def _loaded(value, empty):
    return json.loads(value) if isinstance(value, str) else (value or empty)


def upgrade():
    op.create_table('portfolio_hand_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portfolio_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('reflections', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'], name=op.f('fk_portfolio_hand_ins_portfolio_id_portfolios')),
    sa.ForeignKeyConstraint(['version_id'], ['submission_versions.id'],
                            name=op.f('fk_portfolio_hand_ins_version_id_submission_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portfolio_hand_ins')),
    sa.UniqueConstraint('version_id', name=op.f('uq_portfolio_hand_ins_version_id'))
    )
    with op.batch_alter_table('portfolio_hand_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolio_hand_ins_portfolio_id'), ['portfolio_id'], unique=False)

    op.create_table('portfolio_hand_in_pieces',
    sa.Column('hand_in_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hand_in_id'], ['portfolio_hand_ins.id'],
                            name=op.f('fk_portfolio_hand_in_pieces_hand_in_id_portfolio_hand_ins')),
    sa.ForeignKeyConstraint(['version_id'], ['submission_versions.id'],
                            name=op.f('fk_portfolio_hand_in_pieces_version_id_submission_versions')),
    sa.PrimaryKeyConstraint('hand_in_id', 'position', name=op.f('pk_portfolio_hand_in_pieces'))
    )
    with op.batch_alter_table('portfolio_hand_in_pieces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolio_hand_in_pieces_version_id'), ['version_id'], unique=False)

    conn = op.get_bind()
    # each version of each portfolio review, with the portfolio of its learner and level
    handed_in = conn.execute(sa.text(
        "SELECT v.id, v.submitted_at, p.id, p.artifact_ids, p.reflections FROM submission_versions v "
        "JOIN submissions s ON s.id = v.submission_id JOIN assignments a ON a.id = s.assignment_id "
        "JOIN rubrics r ON r.id = a.rubric_id "
        "JOIN portfolios p ON p.user_id = s.user_id AND p.level_id = r.level_id "
        "WHERE a.kind = 'portfolio' ORDER BY v.id").columns(submitted_at=sa.DateTime())).all()
    if not handed_in:
        return
    chosen = {i for row in handed_in for i in _loaded(row[3], [])}
    versions = {}  # a chosen piece's id -> its versions (id, handed in at), in order
    for vid, sid, at in conn.execute(sa.text(
            "SELECT id, submission_id, submitted_at FROM submission_versions WHERE submission_id IN :ids "
            "ORDER BY submission_id, number").bindparams(sa.bindparam("ids", expanding=True))
            .columns(submitted_at=sa.DateTime()), {"ids": sorted(chosen) or [0]}):
        versions.setdefault(sid, []).append((vid, at))
    hand_ins = sa.table('portfolio_hand_ins', sa.column('id', sa.Integer()), sa.column('portfolio_id', sa.Integer()),
                        sa.column('version_id', sa.Integer()), sa.column('reflections', sa.JSON()))
    pieces = sa.table('portfolio_hand_in_pieces', sa.column('hand_in_id', sa.Integer()),
                      sa.column('position', sa.Integer()), sa.column('version_id', sa.Integer()))
    for version_id, at, portfolio_id, artifact_ids, reflections in handed_in:
        hand_in_id = conn.execute(sa.insert(hand_ins).values(
            portfolio_id=portfolio_id, version_id=version_id, reflections=_loaded(reflections, {}))
            .returning(hand_ins.c.id)).scalar_one()
        then = [[vid for vid, made in versions.get(i, []) if made <= at] for i in _loaded(artifact_ids, [])]
        rows = [{"hand_in_id": hand_in_id, "position": n, "version_id": found[-1]}
                for n, found in enumerate(f for f in then if f)]
        if rows:
            conn.execute(sa.insert(pieces), rows)


def downgrade():
    with op.batch_alter_table('portfolio_hand_in_pieces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portfolio_hand_in_pieces_version_id'))

    op.drop_table('portfolio_hand_in_pieces')
    with op.batch_alter_table('portfolio_hand_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portfolio_hand_ins_portfolio_id'))

    op.drop_table('portfolio_hand_ins')

"""typed data: a CHECK constraint on every column that holds one of a fixed set of strings

The models map these columns to StrEnums (``lms.database.enum_type``); the constraints make
the database refuse anything else too. The column types stay as they were (VARCHAR of the
same length). ``quiz_attempts.closed_by`` becomes nullable: an attempt still open has no
closer, stored as NULL instead of "".

The value lists are written out here rather than read from the enums, so this migration
keeps building the same schema when an enum gains a member later (that change comes with
its own migration replacing the constraint).

Revision ID: 92d8ffe27028
Revises: 6ca7ab7bae41
Create Date: 2026-11-30 20:15:08.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '92d8ffe27028'
down_revision = '6ca7ab7bae41'
branch_labels = None
depends_on = None


# table -> column -> the values it may hold
CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    'objectives': {'kind': ('knowledge', 'skill', 'application')},
    'metrics': {'unit': ('percent', 'hours', 'score'), 'direction': ('at_least', 'at_most')},
    'quizzes': {
        'kind': ('quiz', 'exam'),
        'grading': ('highest', 'latest', 'average', 'first'),
        'review': ('immediately', 'after_close', 'never'),
    },
    'question_versions': {
        'type': ('single', 'multiple', 'true_false', 'short', 'numerical', 'matching', 'ordering', 'essay', 'scenario'),
    },
    'quiz_attempts': {'closed_by': ('learner', 'time_limit', 'quiz_closed')},
    'assignments': {'kind': ('case_study', 'hands_on', 'capstone', 'portfolio')},
    'submissions': {'status': ('draft', 'submitted', 'returned', 'released')},
    'grades': {'status': ('draft', 'released')},
    'grade_events': {'action': ('draft', 'release', 'return')},
    'peer_reviews': {'status': ('assigned', 'done', 'cancelled')},
    'schedule_overrides': {'kind': ('early_access', 'extension')},
    'feedback_invites': {'relation': ('customer', 'team_member', 'investor', 'partner', 'other')},
    'evidence': {'source': ('quiz', 'rubric', 'peer', 'rating', 'stakeholder', 'kpi')},
    'mastery': {'method': ('decaying_average', 'n_times', 'highest', 'latest')},
    'mastery_policies': {'method': ('decaying_average', 'n_times', 'highest', 'latest')},
}


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    # An open attempt's closer becomes NULL, which the constraint allows; "" would not pass it.
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.alter_column('closed_by', existing_type=sa.String(length=20), nullable=True)
    op.execute("UPDATE quiz_attempts SET closed_by = NULL WHERE closed_by = ''")

    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), _condition(column, values))


def downgrade():
    for table, columns in reversed(CHECKS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(columns):
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')

    op.execute("UPDATE quiz_attempts SET closed_by = '' WHERE closed_by IS NULL")
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.alter_column('closed_by', existing_type=sa.String(length=20), nullable=False)

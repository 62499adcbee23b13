"""One-time form values for API tokens and webhook endpoints: the page forms that make
them carry a one-time value, kept with what they made (``api_tokens.form_token``, unique
per person; ``webhook_endpoints.form_token``, unique per person who added it), so a reload
or a double click re-sending the form finds what it made instead of making a second one.
Existing rows have none (NULL: never equal to another).

Revision ID: zyt5c3d4e5f613
Revises: zys4c3d4e5f613
Create Date: 2026-12-07 05:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zyt5c3d4e5f613'
down_revision = 'zys4c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_api_tokens_user_id_form_token', ['user_id', 'form_token'])
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_webhook_endpoints_created_by_id_form_token', ['created_by_id', 'form_token'])


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_constraint('uq_webhook_endpoints_created_by_id_form_token', type_='unique')
        batch_op.drop_column('form_token')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('uq_api_tokens_user_id_form_token', type_='unique')
        batch_op.drop_column('form_token')

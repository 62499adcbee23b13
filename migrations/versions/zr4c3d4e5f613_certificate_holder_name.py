"""certificate holder name: a certificate keeps the name the learner had when it was issued
(``certificates.holder_name``); its public page, Open Badges credential and the admin's
page showed the account's current name, so a learner renamed after issue changed every
certificate they held. Existing certificates get their account's current name (an erased
account's is already its placeholder, as erasure now writes for the kept name too).

Revision ID: zr4c3d4e5f613
Revises: zr3c3d4e5f613
Create Date: 2026-12-06 16:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'zr4c3d4e5f613'
down_revision = 'zr3c3d4e5f613'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder_name', sa.String(length=200), nullable=True))
    op.execute("UPDATE certificates SET holder_name = "
               "(SELECT users.name FROM users WHERE users.id = certificates.user_id)")
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.alter_column('holder_name', existing_type=sa.String(length=200), nullable=False)


def downgrade():
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('holder_name')

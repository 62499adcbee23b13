"""templates as content — issue 11 point 3

Revision ID: f1b2c3d4e511
Revises: e1b2c3d4e510
Create Date: 2026-12-01 00:25:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database

# revision identifiers, used by Alembic.
revision = 'f1b2c3d4e511'
down_revision = 'e1b2c3d4e510'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('retired_at', lms.database.UTCDateTime(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('assignments', sa.JSON(), nullable=False),
    sa.Column('source_path', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("format IN ('markdown', 'csv')", name=op.f('ck_templates_format')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates')),
    sa.UniqueConstraint('key', name=op.f('uq_templates_key'))
    )
    op.create_table('template_modules',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('module_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_template_modules_module_id_modules')),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_modules_template_id_templates')),
    sa.PrimaryKeyConstraint('template_id', 'module_id', name=op.f('pk_template_modules'))
    )
    op.create_table('template_objectives',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_template_objectives_objective_id_objectives')),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_objectives_template_id_templates')),
    sa.PrimaryKeyConstraint('template_id', 'objective_id', name=op.f('pk_template_objectives'))
    )


def downgrade():
    op.drop_table('template_objectives')
    op.drop_table('template_modules')
    op.drop_table('templates')

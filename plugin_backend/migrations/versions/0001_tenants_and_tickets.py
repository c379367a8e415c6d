"""Tenants and tickets.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tenants and tickets tables."""
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(),
                  sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("subject", sa.Text()),
        sa.Column("channel", sa.String(100)),
        sa.Column("category", sa.String(255)),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("escalated", sa.Boolean()),
        sa.Column("reopened", sa.Boolean()),
        sa.Column("csat", sa.String(10)),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("tenant_id", "external_id", name="uq_ticket_tenant_ext"),
    )
    op.create_index("ix_tickets_tenant_id", "tickets", ["tenant_id"])
    op.create_index("ix_tickets_category", "tickets", ["category"])


def downgrade() -> None:
    """Drop the tickets and tenants tables."""
    op.drop_index("ix_tickets_category", "tickets")
    op.drop_index("ix_tickets_tenant_id", "tickets")
    op.drop_table("tickets")
    op.drop_table("tenants")

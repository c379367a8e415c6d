"""Installations, API keys, suggestions and agent events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant_fk() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer(),
                     sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    """Create the installations, api_keys, suggestions and events tables."""
    op.create_table(
        "installations",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant_fk(),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("platform", "external_id", name="uq_installation_ext"),
    )
    op.create_index("ix_installations_tenant_id", "installations", ["tenant_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant_fk(),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(64), primary_key=True),
        _tenant_fk(),
        sa.Column("ticket_external_id", sa.String(255), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("category", sa.String(255)),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_suggestions_tenant_id", "suggestions", ["tenant_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant_fk(),
        sa.Column("ticket_external_id", sa.String(255), nullable=False),
        sa.Column("suggestion_id", sa.String(64)),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("agent_id", sa.String(255)),
        sa.Column("model_version", sa.String(50)),
        sa.Column("category", sa.String(255)),
        sa.Column("edit_distance", sa.Integer()),
        sa.Column("useful", sa.Boolean()),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_events_tenant_id", "events", ["tenant_id"])
    op.create_index("ix_events_suggestion_id", "events", ["suggestion_id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])


def downgrade() -> None:
    """Drop the four tables."""
    for table in ("events", "suggestions", "api_keys", "installations"):
        op.drop_table(table)

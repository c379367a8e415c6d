"""Helpdesk connectors: Zendesk (zenpy) and Intercom (python-intercom 5.x).

Each connector is built per account from explicit credentials, always with a timeout, and
maps the vendor's objects to interaction v1 ``Ticket``. Only :class:`ConnectorError` leaves
this package: vendor and HTTP exceptions are wrapped, with messages that never carry tokens.
Vendor packages are imported inside the connector modules, so importing this package is cheap.
"""

from __future__ import annotations

from plugin_backend.connectors.zendesk import ConnectorError

__all__ = ["ConnectorError"]

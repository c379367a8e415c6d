"""CloneDesk's Flask backend: ``create_app()`` builds the web app (it never imports torch)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The app: settings (``test_config["SETTINGS"]`` or the environment), database, Redis,
    error handlers and the blueprints (api, zendesk, intercom, webhooks, admin).

    ``test_config["RUNTIME"]`` may hand in a ready :class:`~plugin_backend.runtime.Runtime`
    (tests, ``clonedesk serve`` with its embedded Redis); otherwise one is built and closed
    with the process.
    """
    from flask import Flask

    from plugin_backend import errors
    from plugin_backend.config import Settings
    from plugin_backend.runtime import Runtime, secret_key

    config = dict(test_config or {})
    app = Flask(__name__)
    runtime = config.pop("RUNTIME", None)
    settings = config.pop("SETTINGS", None) or (runtime.settings if runtime else None)
    if settings is None:
        settings = Settings.from_env()
    if runtime is None:
        runtime = Runtime.build(settings)
    app.config.update(SECRET_KEY=secret_key(settings),
                      MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
                      JSON_SORT_KEYS=False)
    app.config.update(config)
    app.extensions["clonedesk"] = runtime
    errors.init_app(app)

    from intercom_canvas import views as intercom_views
    from plugin_backend import admin, api, webhooks, zendesk

    app.register_blueprint(api.bp)
    app.register_blueprint(zendesk.bp)
    app.register_blueprint(intercom_views.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(admin.bp)
    if app.config.get("DEMO"):
        from plugin_backend import demo_site

        app.config.setdefault("DEMO_TENANT", "demo")
        app.register_blueprint(demo_site.bp)

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness: the database and Redis answer."""
        from sqlalchemy import text

        with runtime.sessions() as session:
            session.execute(text("SELECT 1"))
        runtime.redis.ping()
        return {"status": "ok"}

    return app

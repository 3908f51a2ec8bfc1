"""The web pages: server-rendered HTML in the GOV.UK Design System, on the same access layer as
the JSON API.

Every page handler is thin: it takes the same dependencies as the JSON route it stands beside
(`api.deps.requires`, the scope checks), calls that route's own function for the work (so the
view policy, reasons and audit are the API's, not a copy), and renders a template. Templates
hold no policy. Mounted on the service by `api.app.create_app` as a sub-application, so its
errors are pages rather than JSON.
"""

from api.web.site import create_web_app

__all__ = ["create_web_app"]

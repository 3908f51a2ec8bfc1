"""The FastAPI service: sign-in, the routes of each role, the view policy's output, the audit.

Public surface: `create_app(settings)` (or `create_app(context=...)` with an engine, sign-in
service, search backend and clock of the caller's own), `ApiSettings` and `Context`.
"""

from api.app import create_app
from api.context import ApiSettings, Context

__all__ = ["ApiSettings", "Context", "create_app"]

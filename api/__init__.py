"""The FastAPI service. No endpoint exposes personal data before access control exists."""

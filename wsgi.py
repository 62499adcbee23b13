"""Entry point for a WSGI server: ``gunicorn wsgi:app`` (set LMS_ENV=production)."""

from lms import create_app

app = create_app()

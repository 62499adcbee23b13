"""The floor of bench/everyday.py: a bare Flask app answering "Hello, World!", served by the
same gunicorn settings as the app (``gunicorn --chdir bench hello:app``)."""

from flask import Flask

app = Flask("hello")


@app.get("/")
def hello() -> str:
    return "Hello, World!"

"""Flask extensions, created unbound here and bound to the app by ``create_app``."""

from typing import TYPE_CHECKING

from flask import request
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from lms.database import Base, RequestSession

db = SQLAlchemy(model_class=Base, session_options={"class_": RequestSession})
migrate = Migrate()
csrf = CSRFProtect()
compress = Compress()  # registered first, so it runs after every other after_request hook
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Please sign in to see that page."
# Storage comes from RATELIMIT_STORAGE_URI: memory by default, Redis when REDIS_URL is set.
limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _reading_is_never_limited() -> bool:
    """Every limit here is on a form's POST (sign-in, reset, unlock), so a page view (GET,
    HEAD, OPTIONS) skips Flask-Limiter's per-request search for the limits that apply: a
    tenth of a kept page's time."""
    return request.method in ("GET", "HEAD", "OPTIONS")

# The base every model subclasses. Flask-SQLAlchemy builds db.Model at run time from
# Base, so type checkers cannot see through it; to them the models subclass Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

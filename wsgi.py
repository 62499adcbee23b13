"""Entry point for a WSGI server: ``gunicorn wsgi:app`` (set LMS_ENV=production)."""

import gc

from lms import create_app

app = create_app()

# What the process made to start (modules, mappers, templates, configuration: about 230,000
# objects) lives as long as it does. Frozen, the garbage collector's full collections no
# longer walk it: one took 155 ms and stalled the request it fell in (a 5,000-learner
# gradebook page, about one view in 16), against 2 ms once frozen (bench/README.md).
gc.collect()
gc.freeze()

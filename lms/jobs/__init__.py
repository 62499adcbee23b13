"""Background jobs: a registry of job kinds run by RQ workers (``flask lms worker``) when
``REDIS_URL`` is set, else inline once the request's work has committed; every job is a
row (queued, running, done, failed with its error) the site admin sees and retries."""

"""The REST API v1 (``/api/v1``, documented by a generated OpenAPI 3.1 document) and the
API tokens that open it (personal and organization tokens with scopes)."""

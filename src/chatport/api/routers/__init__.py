"""The REST API's routers, one per resource, and the webhook endpoints."""

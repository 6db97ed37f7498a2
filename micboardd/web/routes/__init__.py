"""The REST API, one Litestar Controller per resource (assembled by `web/app.py`).

Each controller is handed the app's context by dependency injection, under the one name
`ctx` (`inject.py`), and types it with a protocol naming only what it reads: a test can
hand it a smaller object, and nothing here imports the daemon that fills the context.
"""

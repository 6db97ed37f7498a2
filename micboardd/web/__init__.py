"""The web layer: Litestar app factory, REST API, WebSocket endpoints, static dashboard."""

"""One module per console page; each exposes `add_routes(router)`."""

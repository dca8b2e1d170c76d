"""Storage: the only package that knows SQL. Models, sessions, migrations and repositories."""

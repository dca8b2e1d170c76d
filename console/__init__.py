"""The web console for editors and admins: `build_console_app(services)` or `add_console(root, services)`."""

from console.app import add_console, build_console_app

__all__ = ["add_console", "build_console_app"]

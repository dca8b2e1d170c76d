"""Every table of the application. Importing this package registers them all on SQLModel.metadata.

Each feature keeps its tables in its own module here; all modules are imported automatically so a new
module needs no edit to this file.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

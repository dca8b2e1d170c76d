"""Read-only reports behind the console's pages (the tables belong to the features that write them)."""

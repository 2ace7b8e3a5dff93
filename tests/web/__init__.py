"""Browser tests (a package, so that its package-scoped browser and server stop when it ends)."""

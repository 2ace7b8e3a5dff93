"""Public test doubles for Nexus (source code never imports this package)."""

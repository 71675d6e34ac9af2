"""CLI command groups, one module each; ``curate.cli`` registers them."""

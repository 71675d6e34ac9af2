"""CLI command groups, one module each; ``curate.commands.app`` registers them."""

"""The Python face of curate: the public ``Spec``, one way to open a source, and export, load,
stats, preview and push (``curate/__init__.py`` exposes them as ``curate.export`` and so on)."""

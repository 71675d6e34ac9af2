"""Running an export: the pipeline that streams a source through the builder into the sinks, and
the worker processes that share the work (``--num-proc``)."""

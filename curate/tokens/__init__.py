"""Rows to training tokens: tokenization with the one place that builds ``labels``, the label
rules of chat templates, packing, and the preview of what a row trains."""

"""The one exception hierarchy of edge-ocr; only the CLI turns these into exit codes."""


class EdgeOcrError(Exception):
    """Base of every error edge-ocr raises on purpose."""


class ConfigError(EdgeOcrError):
    """The configuration is invalid; the message names the key path and the problem."""


class ModelError(EdgeOcrError):
    """A model file is missing, unreadable, or does not describe itself as expected."""


class ImageError(EdgeOcrError):
    """An input image cannot be decoded or is unusable (empty, truncated, too large)."""


class SourceError(EdgeOcrError):
    """A frame source cannot be opened or has failed for good."""


class OutboxError(EdgeOcrError):
    """The durable outbox cannot be opened or written."""

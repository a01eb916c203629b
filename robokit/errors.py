"""User-facing error types.

Every mistake a user can make with their own input (a config, a dataset, a path) raises a subclass of
`UserError`. Scripts catch it, print its one-line message and exit with code 2 (see `robokit.cli`).
Anything else is a bug in robokit and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message names the problem and how to fix it."""


class ConfigError(UserError, ValueError):
    """An unknown key, a wrong type, a bad value or an impossible combination in a config."""


class DatasetError(UserError):
    """A missing, malformed or unusable dataset file."""


class CheckpointError(UserError):
    """A missing or unreadable checkpoint."""

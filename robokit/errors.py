"""User-facing error types.

Every mistake a user can make with their own input (a config, a dataset, a path) raises a subclass of
`UserError`. Scripts catch it, print its one-line message and exit with code 2 (see `robokit.cli`).
`RunStopped` errors are not the user's input but are reported the same way, each with its own exit code: a
non-finite loss, gradient or weight (`TrainingDivergedError`) 3, memory past its limit (`MemoryLimitError`) 4. Anything else is a bug in robokit and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message names the problem and how to fix it."""


class ConfigError(UserError, ValueError):
    """An unknown key, a wrong type, a bad value or an impossible combination in a config."""


class DatasetError(UserError):
    """A missing, malformed or unusable dataset file."""


class CheckpointError(UserError):
    """A missing or unreadable checkpoint."""


class OutputWriteError(UserError):
    """A file of a run (checkpoint, log, video, dataset) could not be written: a full disk, a read-only folder."""


class RunStopped(Exception):
    """A run that robokit stopped on purpose; scripts print the one-line message and exit with `exit_code`."""

    exit_code = 1


class TrainingDivergedError(RunStopped):
    """Training produced a non-finite loss, gradient or weight; the message names where and the likely cause.

    Raised by the gradient path (`Algo.apply_gradients`) and the training loops, which add the epoch and step.
    """

    exit_code = 3

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        #: where in the run it happened, e.g. "epoch 2, step 7 of 50" (set by the loop that catches it)
        self.where = where


class MemoryLimitError(RunStopped):
    """The process's memory passed `experiment.memory.max_fraction`; an emergency checkpoint was written."""

    exit_code = 4

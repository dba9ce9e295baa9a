"""The one exception type for errors a user can cause (files, payloads, settings).

The CLI prints it on one line and exits non-zero; bugs still raise their own exceptions.
"""


class TapeflowError(Exception):
    """A user-caused error whose message names the file, field or value at fault."""

"""The one exception type for errors a user can cause (files, payloads, settings).

The CLI prints it on one line and exits non-zero; bugs still raise their own exceptions.
"""


class TapeflowError(Exception):
    """A user-caused error whose message names the file, field or value at fault."""


class JournalError(TapeflowError):
    """The journal could not record something (disk full, read-only file, a value SQLite cannot
    hold). The account treats it as "not recorded": it never sends an order it could not journal."""

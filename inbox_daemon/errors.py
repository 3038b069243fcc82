"""Exceptions raised at the edges of the daemon.

Inside the pipeline a problem with one message is a finding or an `error`
outcome, never an exception; these classes are for configuration, servers,
storage and locking, where the caller has to stop or retry.
"""


class InboxError(Exception):
    """Base class for every error inbox-daemon raises on purpose."""


class ConfigError(InboxError):
    """The configuration or a rules file is invalid."""


class FetchError(InboxError):
    """A mail source could not be read (connection, protocol or folder problem)."""

    retryable = True


class AuthError(FetchError):
    """The server refused the login: retrying with the same password will not help."""

    retryable = False


class CertificateError(FetchError):
    """The server's TLS certificate is not trusted: a retry will not change that."""

    retryable = False


class FolderError(FetchError):
    """The folder is missing, or its UIDVALIDITY changed during the pass: stop and re-sync next pass."""

    retryable = False


class SendError(InboxError):
    """A reply could not be sent."""


class StoreError(InboxError):
    """The raw store or the database cannot be written (disk full, read-only)."""


class BusyError(StoreError):
    """The database stayed locked by another process: wait and try again later; never the mail's fault."""


class LockError(InboxError):
    """Another pass holds the lock."""

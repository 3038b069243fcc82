"""inbox-daemon: contest entries by email, judged, stored and answered."""

__version__ = "0.1.0"

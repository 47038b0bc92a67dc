"""The session record: a crash-safe SQLite file per session, its recorder, and its export.

Qt-free: the headless ``record`` and ``export`` commands use it without a display.
"""

from console.recording.recorder import FlushInfo, Recorder, limits_snapshot, resume
from console.recording.store import (
    NotASessionFile,
    SessionInfo,
    default_session_dir,
    find_open_sessions,
    new_session_path,
    session_info,
)

__all__ = [
    "FlushInfo", "NotASessionFile", "Recorder", "SessionInfo", "default_session_dir",
    "find_open_sessions", "limits_snapshot", "new_session_path", "resume", "session_info",
]

"""Where Homeroom keeps its files. No side effects on import (unlike `homeroom.settings`, which
fixes the database the moment it is imported), so tools may read it before choosing settings."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir_from_env() -> Path:
    """HOMEROOM_DATA_DIR, default ./var; created on first use."""
    data_dir = Path(os.environ.get("HOMEROOM_DATA_DIR") or Path.cwd() / "var").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir

"""The start-up schema check knows the newest migration without loading Alembic."""

from __future__ import annotations

import subprocess
import sys

from chatport.store.migrate import HEAD_REVISION, head_revision


def test_head_revision_constant_is_the_newest_packaged_migration() -> None:
    assert head_revision() == HEAD_REVISION


def test_the_command_line_starts_without_alembic() -> None:
    probe = "import sys, chatport.cli; print('alembic' in sys.modules, 'mako' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == ["False", "False"]

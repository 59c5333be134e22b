"""A 200 MB data migration is checksummed and scanned as a stream, never held whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import make_repo

UP = "database/migrations/V1__load_history.sql"
MB = 1 << 20
PEAK_RSS = (
    "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, "
    "text=True); print(p.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
    ".ru_maxrss); print(p.stderr, end='')"
)


def test_a_200_mb_script_is_checked_in_bounded_memory(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "p", {"database/rollback/V1__load_history_rollback.sql": "TRUNCATE history;\n"}
    )
    row = b"INSERT INTO history VALUES (1, 'an event that happened once upon a time');\n"
    block = row * (MB // len(row))
    (repo / UP).parent.mkdir(parents=True)
    with open(repo / UP, "wb") as handle:
        for _ in range(200):
            handle.write(block)
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "vcsync", "check"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak_kib, stderr = proc.stdout.split("\n", 2)
    assert code == "0", stderr
    assert f"note: {UP}: VC101 skipped:" in stderr and "above max_parse_bytes" in stderr
    assert int(peak_kib) < 120 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB: the file was held"

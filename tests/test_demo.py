"""The README's quickstart stays true: the demo runs on a fresh checkout, no server needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parent.parent / "examples" / "demo.sh"


def test_the_demo_blocks_a_bad_commit_and_lands_a_good_one(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(["bash", str(DEMO)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "V1.3.0__Add_order_status.sql:1:1: VC001 migration 1.3.0 has no rollback"
        in proc.stdout + proc.stderr
    )
    assert "add order status" in proc.stdout and "demo finished" in proc.stdout
    status = proc.stdout.split("where every environment stands", 1)[1].splitlines()[2:7]
    assert [line.split()[2:] for line in status] == [
        ["dev", "staging", "production"],
        ["applied", "applied", "applied"],
        ["applied", "applied", "applied"],
        ["applied", "applied", "applied"],
        ["applied", "pending", "pending"],
    ]
    assert "rollback   succeeded" in proc.stdout
    assert (
        "VC402 production differs from the schema vcsync recorded after deployment " in proc.stdout
    )
    assert proc.stdout.rstrip().endswith(
        "+ column customers.vip\n\ndemo finished: see README.md for what to try next"
    )

"""Node logs on a disk that is full: the lines are given up, never the node or the run."""

from pathlib import Path

import pytest

from assetflow.run.runlog import NodeLog

FULL = Path("/dev/full")  # every write fails with ENOSPC, as on a full disk


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
def test_a_log_that_cannot_be_written_is_given_up_and_says_why():
    log = NodeLog(FULL)
    log.begin("== attempt 1 ==\n")
    log.logger.info("a line " * 2000)  # more than the buffer: the write itself fails
    log.write("more\n")
    log.flush()
    log.close()  # no OSError escapes from any of them
    assert log.lost is not None and "No space left on device" in log.lost
    assert str(FULL) in log.lost


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
def test_a_full_disk_found_on_close_is_given_up_too():
    log = NodeLog(FULL)
    log.write("short\n")  # buffered: nothing fails yet
    log.close()  # the flush of close fails
    assert log.lost is not None and "No space left on device" in log.lost


def test_a_writable_log_loses_nothing(tmp_path):
    log = NodeLog(tmp_path / "a" / "n.log")
    log.begin("== attempt 1 ==\n")
    log.write("hello\n")
    log.close()
    assert log.lost is None
    assert (tmp_path / "a" / "n.log").read_text() == "== attempt 1 ==\nhello\n"

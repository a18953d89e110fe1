"""tools/sharded_tests.py: a pytest selection run as several processes (the GPU check's gpu tests).

Each case runs the tool on a small folder of its own tests, as the GPU check runs it on the
gpu test set: the counts must add up over the shards, a failure anywhere must show in the
exit status, and a SIGTERM must stop every shard and still print what they had.
"""

import pathlib
import signal
import subprocess
import sys
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "sharded_tests.py"


def write_tests(folder, failing=False, slow=False):
    (folder / "test_a.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    (folder / "test_b.py").write_text(textwrap.dedent(f"""
        import pytest, time

        def test_three():
            assert {not failing}

        @pytest.mark.skip(reason="skipped on purpose")
        def test_four():
            pass

        def test_five():
            time.sleep({60 if slow else 0})
    """))
    (folder / "test_c.py").write_text("def test_six():\n    pass\n")


def run_tool(folder, *args, **kwargs):
    return subprocess.Popen([sys.executable, str(TOOL), *args, "--", "-q", "-p", "no:cacheprovider"], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_the_shards_add_up_to_one_run(tmp_path):
    write_tests(tmp_path)
    tool = run_tool(tmp_path, "--shards", "2")
    output, _ = tool.communicate(timeout=120)
    assert tool.returncode == 0, output
    # runs of at most ceil(6 / 4) = 2, the longest first, each to the emptiest shard:
    # (one, two) + (five) and (three, four) + (six)
    assert "6 tests in 2 processes (3, 3)" in output, output
    assert "\n...  " in output and "\n.s.  " in output, output
    assert output.splitlines()[-1].startswith("===== all shards: 5 passed, 1 skipped in "), output


def test_one_large_file_is_cut_in_runs_of_consecutive_tests_over_every_shard():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import sharded_tests
    finally:
        sys.path.remove(str(TOOL.parent))
    files = {"test_big.py": [f"test_big.py::t{i:02}" for i in range(60)],
             "test_small.py": [f"test_small.py::t{i:02}" for i in range(12)]}
    groups = sharded_tests.share_out(files, 6)
    assert [len(g) for g in groups] == [12] * 6               # runs of ceil(72 / 12) = 6, two a shard
    assert sorted(sum(groups, [])) == sorted(sum(files.values(), []))
    runs = [g[start:start + 6] for g in groups for start in (0, 6)]
    for run in runs:                                          # each run: 6 neighbours of one file
        path, first = run[0].split("::t")
        assert run == files[path][int(first):int(first) + 6], run


def test_a_failure_in_one_shard_fails_the_run(tmp_path):
    write_tests(tmp_path, failing=True)
    tool = run_tool(tmp_path, "--shards", "3")
    output, _ = tool.communicate(timeout=120)
    assert tool.returncode == 1, output
    assert "1 failed, 4 passed, 1 skipped" in output.splitlines()[-1], output


def test_sigterm_stops_every_shard_and_keeps_their_output(tmp_path):
    write_tests(tmp_path, slow=True)
    tool = run_tool(tmp_path, "--shards", "2")
    first = tool.stdout.readline()                            # collected: the shards start
    time.sleep(12)                                            # shard 2 ends, shard 1 sleeps in test_five
    tool.send_signal(signal.SIGTERM)
    output, _ = tool.communicate(timeout=30)                  # not the 60 s of test_five
    output = first + output
    assert tool.returncode == 128 + signal.SIGTERM, output
    assert "(stopped by SIGTERM)" in output.splitlines()[-1], output
    # the shard that had ended: (three, four) + (six)
    assert "===== shard 2 of 2 (exit 0)" in output and "2 passed, 1 skipped" in output, output

"""Bad input and faults: exit 2 with a message naming the input, nothing applied, no traceback.

Each case is one a new user hit: a gate with nothing left to check, durations
that never elapse, paths that are files, query files of the wrong shape, a
fully qualified stack name, a truncated samples file, credentials in a URL.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from kgot_rollout._hold import HoldPolicy
from kgot_rollout._journal import Journal
from kgot_rollout._report import ReportData, choose_rollout, draw, report_data
from kgot_rollout._types import ExitCode
from kgot_rollout.cli import Dependencies, run

pytestmark = pytest.mark.rollout

ALL_BUILTIN = ("error_rate", "latency", "cpu", "health")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def changed_nothing(h: Harness) -> bool:
    return not [c for c in h.engine.calls if c[0] in ("set_config", "preview", "up")]


def no_traceback(h: Harness) -> bool:
    return "Traceback" not in h.stderr + h.stdout and "Error:" not in h.stderr


def skip_all() -> list[str]:
    return [arg for name in ALL_BUILTIN for arg in ("--skip-trigger", name)]


@pytest.mark.parametrize("prometheus_down", [False, True])
def test_a_shift_with_every_trigger_skipped_is_refused(
    harness: Harness, prometheus_down: bool
) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.down = prometheus_down
    code = harness.run("shift", "--to", "green", "--steps", "100", *skip_all())
    assert code == ExitCode.REFUSED, harness.stderr
    assert changed_nothing(harness)
    assert harness.engine.traffic == ("blue", 0)
    if not prometheus_down:
        assert "no trigger left to evaluate" in harness.stderr


def test_a_watch_with_no_trigger_left_is_refused(harness: Harness) -> None:
    # No recorded baseline: latency is off, and the other three are skipped.
    healthy(harness.metrics, "blue", "green")
    skip = [a for n in ("error_rate", "cpu", "health") for a in ("--skip-trigger", n)]
    assert harness.run("watch", "--window", "30", *skip) == ExitCode.REFUSED
    assert "no trigger left to evaluate" in harness.stderr
    assert changed_nothing(harness)


def test_a_custom_trigger_still_gates_when_every_builtin_is_skipped(harness: Harness) -> None:
    config = dev_config()
    config["rollback"]["customTriggers"] = [  # type: ignore[index]
        {"name": "queue_depth", "query": 'queue_depth{color="$colour"}', "threshold": 100,
         "comparison": ">", "windowSeconds": 10}
    ]  # fmt: skip
    harness.engine = FakeEngine.for_config(config)
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("queue_depth", "green", lambda t: 250.0)
    code = harness.run("shift", "--to", "green", "--steps", "100", "--hold", "30", *skip_all())
    assert code == ExitCode.ROLLED_BACK


def test_a_custom_trigger_cannot_take_a_builtin_name(harness: Harness) -> None:
    config = dev_config()
    config["rollback"]["customTriggers"] = [  # type: ignore[index]
        {"name": "error_rate", "query": "vector(0)", "threshold": 1,
         "comparison": ">", "windowSeconds": 10}
    ]  # fmt: skip
    harness.engine = FakeEngine.for_config(config)
    healthy(harness.metrics, "blue", "green")
    code = harness.run("shift", "--to", "green", "--skip-trigger", "error_rate")
    assert code == ExitCode.REFUSED
    # Refused by the stack config model, as the program and the bridge refuse it.
    err = harness.stderr
    assert 'rollback.customTriggers[0].name = "error_rate" is not allowed' in err
    assert "not one of the built-in triggers (error_rate, latency, cpu, health)" in err
    assert changed_nothing(harness)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-5", "NaN", "1e999", "soon"])
@pytest.mark.parametrize(
    "command",
    [
        ("shift", "--to", "green", "--hold"),
        ("promote", "--hold"),
        ("watch", "--window"),
        ("shift", "--to", "green", "--interval"),
        ("shift", "--to", "green", "--missing-data-timeout"),
        ("shift", "--to", "green", "--metrics-error-timeout"),
        ("watch", "--health-window"),
        ("watch", "--query-timeout"),
    ],
)
def test_every_duration_is_finite_and_positive(
    harness: Harness, command: tuple[str, ...], value: str
) -> None:
    healthy(harness.metrics, "blue", "green")
    *words, option = command
    assert harness.run(*words, f"{option}={value}") == ExitCode.REFUSED
    assert "allowed: a finite number of seconds > 0" in harness.stderr
    assert command[-1] in harness.stderr
    assert changed_nothing(harness)


def bare_run(tmp_path: Path, *argv: str) -> tuple[int, str]:
    err = io.StringIO()
    deps = Dependencies(
        engine=lambda args: FakeEngine.for_config(dev_config()),
        stdout=io.StringIO(),
        stderr=err,
    )
    return run(list(argv), deps), err.getvalue()


def test_a_project_dir_that_is_a_file_or_missing_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "Pulumi.yaml"
    a_file.write_text("name: x\n")
    code, err = bare_run(tmp_path, "status", "--project-dir", str(a_file))
    assert code == ExitCode.REFUSED
    assert f"--project-dir {a_file}: is not a folder" in err
    missing = tmp_path / "nowhere"
    code, err = bare_run(tmp_path, "status", "--project-dir", str(missing))
    assert code == ExitCode.REFUSED
    assert f"--project-dir {missing}: does not exist" in err
    assert not missing.exists()


def test_a_log_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "logs"
    a_file.write_text("")
    for log_dir in (a_file, a_file / "deployment"):
        code, err = bare_run(
            tmp_path, "status", "--project-dir", str(tmp_path), "--log-dir", str(log_dir)
        )
        assert code == ExitCode.REFUSED
        assert f"--log-dir {log_dir}: {a_file} is a file" in err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[]", "a JSON list, not an object"),
        (b'["error_rate"]', "a JSON list, not an object"),
        (b'"up"', "a JSON str, not an object"),
        (b"3", "a JSON int, not an object"),
        (b'{"error_rate": 3}', "error_rate not a non-empty string"),
        (b'{"nope": "up"}', "unknown keys ['nope']"),
        (b"{", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        ('{"health": "up{color=\\"grün\\"}"}'.encode("latin-1"), "not UTF-8 text"),
        (b"\xff\xfe\x00{", "not UTF-8 text"),
    ],
)
def test_a_queries_file_of_the_wrong_shape_is_refused(
    harness: Harness, tmp_path: Path, content: bytes, words: str
) -> None:
    queries = tmp_path / "bad-queries.json"
    queries.write_bytes(content)
    healthy(harness.metrics, "blue", "green")
    code = harness.run("shift", "--to", "green", "--queries", str(queries))
    assert code == ExitCode.REFUSED
    assert f"--queries {queries}: " in harness.stderr and words in harness.stderr
    assert "allowed: a UTF-8 JSON object of strings" in harness.stderr
    assert changed_nothing(harness) and no_traceback(harness)


def test_a_fully_qualified_stack_name_works(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    stack = "acme/kgot-platform/dev"
    args = ("--stack", stack, "--steps", "100", "--hold", "5")
    assert harness.run("shift", "--to", "green", *args) == ExitCode.DONE, harness.stderr
    assert (harness.log_dir / "history-acme%2Fkgot-platform%2Fdev.jsonl").exists()
    assert (harness.log_dir / ".acme%2Fkgot-platform%2Fdev.lock").exists()
    assert harness.run("history", "--stack", stack) == ExitCode.DONE
    assert "promoted" in harness.stdout


@pytest.mark.parametrize("stack", ["../../etc/x", "a/b/c/d", "dev stack", "", "a//b"])
def test_a_stack_name_pulumi_would_not_take_is_refused(harness: Harness, stack: str) -> None:
    assert harness.run("status", "--stack", stack) == ExitCode.REFUSED
    assert f"--stack {stack!r} is not a stack name" in harness.stderr


def test_report_on_a_truncated_samples_file_draws_from_the_rest(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "20")
    rollout = str(harness.history()[-1]["rollout"])
    samples = harness.log_dir / f"{rollout}.samples.jsonl"
    text = samples.read_text()
    samples.write_text(text + text.splitlines()[0][:17])  # killed mid-write
    out = harness.tmp / "r.png"
    assert harness.run("report", "-o", str(out)) == ExitCode.DONE, harness.stderr
    assert "1 line(s) of" in harness.stderr and "could not be read" in harness.stderr
    journal = Journal(harness.log_dir, "dev")
    data = report_data(journal, choose_rollout(journal, rollout))
    assert data.unreadable_samples == 1
    assert len(data.outcomes) == len(text.splitlines())  # every whole line drawn
    assert "1 unreadable sample lines left out" in draw_title(data)


def draw_title(data: ReportData) -> str:
    from matplotlib import pyplot as plt

    figure = draw(data)
    try:
        return str(figure.axes[0].get_title())
    finally:
        plt.close(figure)


def test_report_into_a_folder_that_cannot_exist_is_refused(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5")
    blocker = harness.tmp / "file"
    blocker.write_text("")
    assert harness.run("report", "-o", str(blocker / "r.png")) == ExitCode.REFUSED
    assert f"-o {blocker / 'r.png'}: its folder cannot be created" in harness.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:s3cr3t-pw@127.0.0.1:9",
        "http://admin:s3cr3t-pw@127.0.0.1:9/prometheus/",
        "ftp://admin:s3cr3t-pw@127.0.0.1/",
        "http://admin:s3cr3t-pw@127.0.0.1:99999/",
    ],
)
def test_credentials_of_the_prometheus_url_are_never_printed(tmp_path: Path, url: str) -> None:
    err = io.StringIO()
    engine = FakeEngine.for_config(dev_config())
    deps = Dependencies(engine=lambda args: engine, stdout=io.StringIO(), stderr=err)
    argv = ["shift", "--to", "green", "--project-dir", str(tmp_path), "--prometheus", url]
    code = run([*argv, "--query-timeout", "2"], deps)
    assert code == ExitCode.REFUSED
    log = (tmp_path / "logs" / "deployment" / "rollout.log").read_text()
    for text in (err.getvalue(), log):
        assert "127.0.0.1" in text
        assert "s3cr3t-pw" not in text and "admin" not in text
    assert not engine.ups()


def test_a_bad_prometheus_url_never_blocks_a_manual_rollback(tmp_path: Path) -> None:
    engine = FakeEngine.for_config(dev_config(standbyWeight=25))
    argv = ["rollback", "--project-dir", str(tmp_path), "--prometheus", "not a url"]
    code = run(argv, Dependencies(engine=lambda a: engine, stdout=io.StringIO()))
    assert code == ExitCode.DONE
    assert engine.applied_traffic == ("blue", 0)


def test_the_query_file_and_durations_are_checked_before_the_engine(tmp_path: Path) -> None:
    opened: list[object] = []
    queries = tmp_path / "q.json"
    queries.write_text(json.dumps([]))

    def engine(args: object) -> FakeEngine:
        opened.append(args)
        return FakeEngine.for_config(dev_config())

    argv = ["shift", "--to", "green", "--project-dir", str(tmp_path), "--queries", str(queries)]
    code = run(argv, Dependencies(engine=engine, stdout=io.StringIO(), stderr=io.StringIO()))
    assert code == ExitCode.REFUSED
    assert not opened


@pytest.mark.parametrize(
    "field", ["hold_seconds", "interval_seconds", "missing_data_seconds", "metrics_error_seconds"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_hold_policy_never_takes_a_duration_that_cannot_elapse(field: str, value: float) -> None:
    # Also for callers other than the CLI (the benchmark, a library user).
    with pytest.raises(ValueError, match=f"{field} .*allowed: a finite number of seconds > 0"):
        HoldPolicy(**{field: value})

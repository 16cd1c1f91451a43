"""The local stack's pure logic: ports, Kafka configuration, arguments, process bookkeeping."""

from __future__ import annotations

import base64
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from localstack import cli, kafka_cluster, procs, pytest_run, stack
from localstack.config import StackConfig, load
from localstack.layout import Layout
from localstack.postgres import _ident, _literal
from localstack.report import StackError, tail


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    return dict(pairs)


def test_port_scheme_gives_each_node_a_broker_and_a_controller_port() -> None:
    assert [(n.node_id, n.broker_port, n.controller_port) for n in kafka_cluster.nodes(3)] == [
        (1, 19092, 19093),
        (2, 19094, 19095),
        (3, 19096, 19097),
    ]
    assert kafka_cluster.bootstrap(1) == "127.0.0.1:19092"
    assert kafka_cluster.bootstrap(3) == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert kafka_cluster.bootstrap(3, 19192) == "127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196"


def test_only_one_or_three_nodes() -> None:
    with pytest.raises(ValueError, match="--kafka-nodes"):
        kafka_cluster.nodes(2)


def test_replication_tolerates_one_broker_down() -> None:
    assert kafka_cluster.replication(1) == (1, 1)
    assert kafka_cluster.replication(3) == (3, 2)


def test_single_node_properties(tmp_path: Path) -> None:
    node = kafka_cluster.nodes(1)[0]
    props = properties(kafka_cluster.render_properties(node, [node], tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["auto.create.topics.enable"] == "false"


def test_three_node_properties_agree_on_the_quorum(tmp_path: Path) -> None:
    quorum = kafka_cluster.nodes(3)
    rendered = [
        properties(kafka_cluster.render_properties(node, quorum, tmp_path / str(node.node_id)))
        for node in quorum
    ]
    voters = {props["controller.quorum.voters"] for props in rendered}
    assert voters == {"1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"}
    assert [props["node.id"] for props in rendered] == ["1", "2", "3"]
    assert len({props["listeners"] for props in rendered}) == 3
    assert len({props["log.dirs"] for props in rendered}) == 3
    for props in rendered:
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["transaction.state.log.min.isr"] == "2"


def test_cluster_id_is_a_kafka_uuid() -> None:
    ids = {kafka_cluster.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_pom_names_the_pinned_versions() -> None:
    pom = ET.fromstring(kafka_cluster.render_pom())
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        d.findtext("m:artifactId", namespaces=ns): d.findtext("m:version", namespaces=ns)
        for d in pom.iterfind("m:dependencies/m:dependency", ns)
    }
    assert deps == {
        "kafka_2.13": kafka_cluster.KAFKA_VERSION,
        "log4j-core": kafka_cluster.LOG4J_VERSION,
        "log4j-slf4j2-impl": kafka_cluster.LOG4J_VERSION,
        "slf4j-api": kafka_cluster.SLF4J_VERSION,
    }


def test_java_command_keeps_the_heap_small(tmp_path: Path) -> None:
    argv = kafka_cluster.java_argv(tmp_path, "kafka.Kafka", "server.properties")
    assert argv[0] == "java"
    assert "-Xmx512m" in argv
    assert argv[-2:] == ["kafka.Kafka", "server.properties"]
    assert argv[argv.index("-cp") + 1] == f"{tmp_path}/*"


def test_up_defaults() -> None:
    args, extra = cli.parse(["up"])
    assert (args.command, args.workers, args.kafka_nodes, extra) == ("up", None, None, [])


def test_up_sizes() -> None:
    args, _ = cli.parse(["up", "--workers", "0", "--kafka-nodes", "3"])
    assert (args.workers, args.kafka_nodes) == (0, 3)


def test_sizes_default_to_the_running_stack(tmp_path: Path) -> None:
    layout = Layout(repo=tmp_path, state=tmp_path / ".dccf", cache=tmp_path / "cache")

    def sizes(*argv: str) -> tuple[int, int]:
        config = cli._requested(layout, cli.parse(list(argv))[0])
        return config.workers, config.kafka_nodes

    StackConfig(workers=3, kafka_nodes=3, passthrough={"DCCF_TOKEN_X": "kept"}).save(
        layout.stack_file
    )
    assert sizes("up") == (2, 1)  # saved, but nothing runs: the defaults
    procs.start(procs.Spec("master", ["sleep", "30"], layout.log("m"), layout.pidfile("master")))
    try:
        assert sizes("up") == (3, 3)
        assert sizes("up", "--workers", "1") == (1, 3)
        assert cli._requested(layout, cli.parse(["up"])[0]).passthrough["DCCF_TOKEN_X"] == "kept"
    finally:
        procs.stop([stack.stop_for(layout, "master")])


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--kafka-nodes", "2"],
        ["up", "--workers", "-1"],
        ["up", "--bogus"],
        ["start", "kafka"],
        ["stop", "worker-0"],
        ["status", "extra"],
    ],
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse(argv)
    assert exited.value.code == 2
    assert "usage: scripts/dev" in capsys.readouterr().err


def test_components_by_name() -> None:
    for name in ["postgres", "dockerd", "master", "kafka-3", "worker-12"]:
        assert cli.parse(["stop", name])[0].component == name


def test_test_passes_unknown_arguments_to_pytest() -> None:
    args, extra = cli.parse(["test", "--workers", "1", "-x", "-k", "submit"])
    assert (args.command, args.workers, extra) == ("test", 1, ["-x", "-k", "submit"])
    assert cli.pytest_argv(Path.cwd(), extra) == [*cli.TEST_TIERS, "-x", "-k", "submit"]


def test_named_test_paths_replace_the_tiers(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    named = ["tests/unit/test_a.py::test_one", "-q"]
    assert cli.pytest_argv(tmp_path, named) == named


@pytest.mark.parametrize(
    ("line", "closing"),
    [
        ("======= 703 passed, 2 skipped in 154.29s (0:02:34) =======", True),
        ("703 passed in 154.29s (0:02:34)", True),
        ("3 errors in 2.28s", True),
        ("============================ no tests ran in 0.01s ============================", True),
        ("1 failed, 2 passed, 1 warning in 3.10s", True),
        ("tests/unit/test_x.py ....    [100%]", False),
        ("============================= test session starts ==============================", False),
    ],
)
def test_pytest_closing_line_is_recognised(line: str, closing: bool) -> None:
    assert bool(pytest_run.SUMMARY.match(line)) is closing


def test_service_env_points_at_the_stack() -> None:
    config = StackConfig(
        kafka_nodes=3,
        passthrough={"DCCF_API_TOKENS": "alice:secret", "DCCF_LEASE_SECONDS": "10"},
    )
    env = config.service_env()
    assert env["DCCF_KAFKA_BOOTSTRAP"] == kafka_cluster.bootstrap(3)
    assert env["DCCF_PG_PORT"] == "55432"
    assert env["DCCF_URL"] == "http://127.0.0.1:8080"
    assert env["DCCF_DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env["DCCF_API_TOKENS"] == "alice:secret"
    assert "DCCF_WORKER_ID" not in env


def test_the_test_stack_and_other_instances_get_ports_and_names_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DCCF_PG_PORT", "DCCF_PORT", "DCCF_DEV_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    local = StackConfig.from_settings(2, 1)
    test = StackConfig.from_settings(2, 3, test=True)
    monkeypatch.setenv("DCCF_DEV_INSTANCE", "2")
    other = StackConfig.from_settings(2, 1)
    other_test = StackConfig.from_settings(2, 3, test=True)
    ports = [(c.pg_port, c.kafka_port, c.master_port) for c in (local, test, other, other_test)]
    assert ports == [
        (55432, 19092, 8080),
        (55532, 19192, 8180),
        (57432, 21092, 10080),
        (57532, 21192, 10180),
    ]
    assert [c.worker_id("worker-1") for c in (local, test, other, other_test)] == [
        "local-worker-1",
        "test-worker-1",
        "local2-worker-1",
        "test2-worker-1",
    ]
    assert test.bootstrap == "127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196"
    assert test.service_env()["DCCF_URL"] == "http://127.0.0.1:8180"
    assert "DCCF_DEV_INSTANCE" not in other.passthrough


@pytest.mark.parametrize("value", ["10", "-1", "x"])
def test_a_bad_instance_number_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DCCF_DEV_INSTANCE", value)
    with pytest.raises(StackError, match="DCCF_DEV_INSTANCE"):
        StackConfig.from_settings(2, 1)


def test_config_round_trips_through_stack_json(tmp_path: Path) -> None:
    config = StackConfig(workers=4, kafka_nodes=3, passthrough={"DCCF_API_TOKENS": "a:b"})
    config.save(tmp_path / "stack.json")
    assert load(tmp_path / "stack.json") == config
    assert (tmp_path / "stack.json").stat().st_mode & 0o777 == 0o600
    assert load(tmp_path / "missing.json") is None


def test_expected_components() -> None:
    components = stack.expected(StackConfig(workers=2, kafka_nodes=3))
    assert list(components) == [
        "postgres",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "master",
        "worker-1",
        "worker-2",
    ]
    assert components["kafka-2"] == "127.0.0.1:19094"


def test_stop_policies() -> None:
    layout = Layout(repo=Path("/r"), state=Path("/r/.dccf"), cache=Path("/c"))
    assert stack.stop_for(layout, "postgres").signal == signal.SIGINT
    assert stack.stop_for(layout, "worker-1").grace_seconds == 60
    assert stack.stop_for(layout, "kafka-2").pidfile == Path("/r/.dccf/run/kafka-2.pid")


def test_the_test_stack_lives_inside_the_clones_state_and_shares_its_venv() -> None:
    own, tests = Layout.discover(), Layout.discover(test=True)
    assert tests.state == own.state / "test"
    assert tests.venv_bin == own.venv_bin == own.state / "venv" / "bin"
    assert Layout.discover(state=str(tests.state)) == tests


def test_purge_keeps_only_the_venv(tmp_path: Path) -> None:
    layout = Layout(repo=tmp_path, state=tmp_path / ".dccf", cache=tmp_path / "cache")
    for folder in ["venv/bin", "pg", "kafka/node-1/data", "logs", "run"]:
        (layout.state / folder).mkdir(parents=True)
    (layout.state / "stack.json").write_text("{}")
    layout.cache.mkdir()
    stack.purge(layout)
    assert [path.name for path in layout.state.iterdir()] == ["venv"]
    assert (layout.state / "venv" / "bin").is_dir()
    assert layout.cache.is_dir()


def test_sql_quoting() -> None:
    assert _literal("it's") == "'it''s'"
    assert _ident('we"ird') == '"we""ird"'


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == ["line 97", "line 98", "line 99"]
    assert tail(tmp_path / "missing.log") == []


def test_background_process_lifecycle(tmp_path: Path) -> None:
    spec = procs.Spec(
        name="sleeper",
        argv=["sleep", "60"],
        log=tmp_path / "logs" / "sleeper.log",
        pidfile=tmp_path / "run" / "sleeper.pid",
    )
    pid = procs.start(spec)
    assert procs.read_pid(spec.pidfile) == pid
    assert "starting sleeper" in spec.log.read_text()
    started = time.monotonic()
    took = procs.stop([procs.Stop("sleeper", spec.pidfile, signal.SIGTERM, 5)])
    assert set(took) == {"sleeper"}
    assert time.monotonic() - started < 5
    assert not procs.alive(pid)
    assert not spec.pidfile.exists()


def test_a_process_that_ignores_its_signal_is_killed(tmp_path: Path) -> None:
    spec = procs.Spec(
        name="stubborn",
        argv=["sh", "-c", "trap '' TERM; sleep 60 & wait"],
        log=tmp_path / "stubborn.log",
        pidfile=tmp_path / "stubborn.pid",
    )
    pid = procs.start(spec)
    time.sleep(0.2)
    procs.stop([procs.Stop("stubborn", spec.pidfile, signal.SIGTERM, 0.5)])
    assert not procs.alive(pid)


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    pidfile = tmp_path / "other.pid"
    pidfile.write_text("1\n0\n")  # PID 1 runs, but it did not start at tick 0
    assert procs.read_pid(pidfile) is None
    pidfile.write_text("not a pid\n")
    assert procs.read_pid(pidfile) is None
    assert procs.read_pid(tmp_path / "absent.pid") is None


@pytest.mark.parametrize(
    ("code", "summary", "counts"),
    [
        (0, "======= 703 passed, 2 skipped in 154.29s (0:02:34) =======", (703, 0)),
        (1, "1 failed, 1477 passed in 439.17s (0:07:19)", (1477, 1)),
        (1, "2 failed, 5 passed, 3 errors in 9.01s", (5, 5)),
        (4, None, (0, 1)),
        (5, "no tests ran in 0.01s", (0, 1)),
    ],
)
def test_pytest_counts_come_from_the_closing_line(
    code: int, summary: str | None, counts: tuple[int, int]
) -> None:
    result = pytest_run.PytestRun(code, summary).counts()
    assert (result["passed"], result["failed"]) == counts

"""The stand-in images: built by the shared Docker engine, imported into every node.

Builds get the same extra CA as every image build of the project (DCCF_EXTRA_CA_CERT_FILE,
else the certificates this machine added under /usr/local/share/ca-certificates). An image is
imported again only when its ID changed since the last import into that node.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from localstack import docker_engine, kafka_cluster
from localstack.report import StackError, say

from localcluster import config, node
from localcluster.layout import ClusterLayout

LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class StandIn:
    tag: str
    folder: str


STANDINS = (
    StandIn(config.PAUSE_IMAGE, "pause"),
    StandIn(config.KAFKA_IMAGE, "kafka"),
    StandIn(config.POSTGRES_IMAGE, "postgres"),
    StandIn(config.DIND_IMAGE, "dind"),
)


def extra_ca() -> str:
    """The same rule as scripts/dind-check and the Pulumi program's image build."""
    named = os.environ.get("DCCF_EXTRA_CA_CERT_FILE", "")
    if named:
        return Path(named).read_text()
    return "".join(cert.read_text() for cert in sorted(LOCAL_CA_DIR.glob("*.crt")))


def _docker(*args: str, log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ docker {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run(
            ["docker", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        raise StackError("images", f"docker {args[0]} {args[-1]} failed", log)


def image_id(tag: str) -> str:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def _kafka_jars(layout: ClusterLayout, context: Path, log: Path) -> None:
    """The broker's and the tools' jars, fetched once by Maven into the cache."""
    target = layout.stack.cache / f"kafka-image-{kafka_cluster.KAFKA_VERSION}"
    if not (target / ".complete").exists():
        if shutil.which("mvn") is None:
            raise StackError("images", "mvn is not installed: apt-get install -y maven")
        work = target.with_name(target.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        template = string.Template((context / "pom.xml").read_text())
        (work / "pom.xml").write_text(
            template.substitute(
                kafka_version=kafka_cluster.KAFKA_VERSION,
                log4j_version=kafka_cluster.LOG4J_VERSION,
                slf4j_version=kafka_cluster.SLF4J_VERSION,
            )
        )
        with log.open("ab") as out:
            done = subprocess.run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(work / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={work / 'libs'}",
                    "-DincludeScope=runtime",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            raise StackError("images", "could not download the Kafka jars from Maven Central", log)
        (work / "libs" / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        (work / "libs").rename(target)
        shutil.rmtree(work)
    shutil.copytree(target, context / "libs", ignore=shutil.ignore_patterns(".complete"))


def _context(layout: ClusterLayout, standin: StandIn, scratch: Path, log: Path) -> Path:
    context = scratch / standin.folder
    shutil.copytree(layout.repo / "images" / "local" / standin.folder, context)
    if standin.folder == "kafka":
        _kafka_jars(layout, context, log)
    elif standin.folder == "dind":
        (context / "seed").mkdir()
        shutil.copy(layout.stack.base_image_tar, context / "seed" / "debian-bookworm-slim.tar")
    return context


def build(layout: ClusterLayout) -> None:
    """Build every stand-in; the Docker layer cache makes an unchanged one take seconds."""
    log = layout.log("images")
    log.parent.mkdir(parents=True, exist_ok=True)
    say("images", docker_engine.seed_base_image(layout.stack))
    ca = extra_ca()
    build_args = ["--build-arg", f"EXTRA_CA_CERT={ca}"] if ca else []
    layout.images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.images, prefix="context-") as scratch:
        for standin in STANDINS:
            started = time.monotonic()
            context = _context(layout, standin, Path(scratch), log)
            _docker(
                "build",
                "--quiet",
                "--network",
                "host",
                *build_args,
                "-t",
                standin.tag,
                str(context),
                log=log,
            )
            say("images", f"built {standin.tag}", started)


def _imported_file(layout: ClusterLayout, target: config.Node) -> Path:
    return layout.node_dir(target) / "imported-images.json"


def load(layout: ClusterLayout, tags: list[str]) -> None:
    """Import the tagged images of the shared engine into every node that lacks that build.

    One archive holds them all, so the layers they share (the Debian base) go in once.
    """
    wanted = {tag: image_id(tag) for tag in tags}
    missing = [tag for tag, found in wanted.items() if not found]
    if missing:
        raise StackError("images", f"the Docker engine has no image {', '.join(missing)}")
    started = time.monotonic()
    log = layout.log("images")
    layout.images.mkdir(parents=True, exist_ok=True)
    for target in config.NODES:
        record = _imported_file(layout, target)
        imported = json.loads(_read(record))
        stale = [tag for tag in tags if imported.get(tag) != wanted[tag]]
        if not stale:
            continue
        archive = layout.images / f"{target.name}.tar"
        _docker("save", "--output", str(archive), *stale, log=log)
        try:
            node.import_image(layout, target, archive)
        finally:
            archive.unlink(missing_ok=True)
        record.write_text(json.dumps({**imported, **wanted}, indent=2) + "\n")
        say("images", f"imported {', '.join(stale)} into {target.name}", started)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return "{}"


def standin_tags() -> list[str]:
    return [standin.tag for standin in STANDINS]

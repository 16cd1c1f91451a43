"""The services image: content-hash tag, delivery mode, and the builder that runs in `pulumi up`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from config import ConfigError
from image_builder import make_provider
from infra_render import REPO_ROOT, Rendered
from infra_variants import VARIANTS
from pulumi.dynamic.dynamic import serialize_provider
from service_image import CONTEXT_PATHS, DOCKERFILE, context_tag, extra_ca


def _copy_context(target: Path) -> Path:
    for entry in CONTEXT_PATHS:
        source = REPO_ROOT / entry
        if source.is_dir():
            shutil.copytree(source, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (target / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / entry)
    return target


def test_the_tag_is_the_hash_of_the_context_wherever_it_lies(tmp_path: Path) -> None:
    copy = _copy_context(tmp_path / "checkout")
    assert context_tag(copy) == context_tag(REPO_ROOT)
    assert len(context_tag(copy)) == 16


def test_a_changed_file_changes_the_tag(tmp_path: Path) -> None:
    copy = _copy_context(tmp_path / "checkout")
    before = context_tag(copy)
    settings = copy / "dccf" / "settings.py"
    settings.write_text(settings.read_text() + "\n# changed\n")
    assert context_tag(copy) != before


def test_a_new_file_or_dockerfile_change_changes_the_tag(tmp_path: Path) -> None:
    copy = _copy_context(tmp_path / "checkout")
    before = context_tag(copy)
    (copy / "services" / "extra.py").write_text("")
    added = context_tag(copy)
    assert added != before
    (copy / DOCKERFILE).write_text((copy / DOCKERFILE).read_text() + "\n")
    assert context_tag(copy) != added


def test_bytecode_and_files_outside_the_context_do_not_change_the_tag(tmp_path: Path) -> None:
    copy = _copy_context(tmp_path / "checkout")
    before = context_tag(copy)
    (copy / "dccf" / "__pycache__").mkdir(exist_ok=True)
    (copy / "dccf" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"\0")
    (copy / "notes.txt").write_text("not copied into the image")
    assert context_tag(copy) == before


def test_dockerignore_admits_exactly_the_hashed_paths() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted == set(CONTEXT_PATHS)


def test_minikube_stack_builds_and_loads_the_hashed_image(render_stack) -> None:
    # Hashed right before rendering: a session-wide render could predate an edit of the tree.
    tag = context_tag()
    default_stack = render_stack()
    (built,) = default_stack.built_images
    assert built["ref"] == f"dccf-services:{tag}"
    assert (built["delivery"], built["profile"], built["dockerfile"]) == (
        "minikube",
        "minikube",
        DOCKERFILE,
    )
    assert Path(built["context"]) == REPO_ROOT
    for name in ("dccf-master", "dccf-worker"):
        spec = default_stack.named("Deployment", name)["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"] == built["ref"]
        assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_a_registry_gets_the_image_pushed(rendered_variants: dict[str, Rendered]) -> None:
    rendered = rendered_variants["cloud-no-node-labels"]
    (built,) = rendered.built_images
    assert built["ref"] == f"registry.example.com/team/dccf-services:{context_tag()}"
    assert built["delivery"] == "registry"
    assert rendered.outputs["image"] == built["ref"]


def test_a_load_command_gets_the_built_image(rendered_variants: dict[str, Rendered]) -> None:
    (built,) = rendered_variants["local-cluster"].built_images
    assert built["delivery"] == "command"
    assert built["load_command"] == ["scripts/dev", "cluster", "load-image"]


def test_the_build_trusts_the_named_ca_else_the_machines_own(tmp_path: Path) -> None:
    named = tmp_path / "proxy-ca.pem"
    named.write_text("NAMED PEM\n")
    local = tmp_path / "ca-certificates"
    local.mkdir()
    (local / "b.crt").write_text("B\n")
    (local / "a.crt").write_text("A\n")
    assert extra_ca(str(named), local) == "NAMED PEM\n"
    assert extra_ca("", local) == "A\nB\n"
    assert extra_ca("", tmp_path / "none") == ""
    with pytest.raises(ConfigError, match="not a file"):
        extra_ca(str(tmp_path / "missing.pem"), local)


def test_a_prebuilt_image_is_used_as_is(rendered_variants: dict[str, Rendered]) -> None:
    rendered = rendered_variants["prebuilt-image"]
    assert rendered.built_images == []
    image = VARIANTS["prebuilt-image"]["image"]
    for name in ("dccf-master", "dccf-worker"):
        container = rendered.named("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == image


def test_the_builder_loads_where_infra_is_not_importable(tmp_path: Path) -> None:
    """Pulumi's provider process unpickles the builder without infra/ on its path."""
    payload = tmp_path / "provider.b64"
    payload.write_text(serialize_provider(make_provider()))
    probe = (
        "import base64, dill, sys\n"
        "provider = dill.loads(base64.b64decode(open(sys.argv[1]).read()))\n"
        "old = {'ref': 'a:1', 'delivery': 'minikube', 'profile': 'minikube', 'context': '/x'}\n"
        "moved = {**old, 'context': '/elsewhere'}\n"
        "assert not provider.diff('a:1', old, moved).changes\n"
        "assert provider.diff('a:1', old, {**old, 'ref': 'a:2'}).replaces == ['ref']\n"
        "assert not provider.diff('a:1', old, {**old, 'extra_ca': 'PEM', 'load_command': []})"
        ".changes\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(payload)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr

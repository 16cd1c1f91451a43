"""The services image that the master and worker pods run.

The tag is a hash of the build context's files, computed here in plain Python, so a code
change gives a new tag and rolls the pods while an unchanged tree changes nothing. Building
and delivering happen in a dynamic resource (`image_builder.py`) that runs only in a real
`pulumi up`; under test mocks nothing is built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi.dynamic
from config import ConfigError
from image_builder import make_provider

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where Debian keeps the certificates a machine trusts beyond its own roots (a proxy's, say).
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
DOCKERFILE = "images/services/Dockerfile"
IMAGE_NAME = "dccf-services"
# What the Dockerfile copies; the root .dockerignore admits exactly these paths.
CONTEXT_PATHS = (
    "pyproject.toml",
    "README.md",
    "dccf",
    "services",
    "images/demo",
    DOCKERFILE,
)


def _context_files(root: Path) -> Iterator[Path]:
    for entry in CONTEXT_PATHS:
        path = root / entry
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                yield file


def context_tag(root: Path = REPO_ROOT) -> str:
    """A hash of every path and content in the build context; stable across checkouts."""
    digest = hashlib.sha256()
    for file in _context_files(root):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def extra_ca(cert_file: str, local_dir: Path = LOCAL_CA_DIR) -> str:
    """The PEM the build trusts besides Debian's roots: the named file, else the certificates
    this machine added itself (as `scripts/dind-check` does), else none."""
    if cert_file:
        path = Path(cert_file).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"dccf:extraCaCertFile (or DCCF_EXTRA_CA_CERT_FILE) names {path}, which is not "
                "a file: give the PEM certificate of your TLS-intercepting proxy"
            )
        return path.read_text()
    return "".join(cert.read_text() for cert in sorted(local_dir.glob("*.crt")))


@dataclass(frozen=True)
class ImageArgs:
    image: str
    registry: str
    minikube_profile: str
    load_command: tuple[str, ...] = ()
    extra_ca_cert_file: str = ""


class BuiltImage(pulumi.dynamic.Resource):
    ref: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, object], opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(make_provider(), name, props, opts)


class ServicesImage(pulumi.ComponentResource):
    ref: pulumi.Output[str]
    pull_policy: str

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:image:ServicesImage", name, {}, opts)
        self.pull_policy = "IfNotPresent"
        if args.image:
            self.ref = pulumi.Output.from_input(args.image)
        else:
            registry = args.registry.rstrip("/")
            repository = f"{registry}/{IMAGE_NAME}" if registry else IMAGE_NAME
            delivery = "registry" if registry else "command" if args.load_command else "minikube"
            built = BuiltImage(
                name,
                {
                    "ref": f"{repository}:{context_tag()}",
                    "context": str(REPO_ROOT),
                    "dockerfile": DOCKERFILE,
                    "extra_ca": extra_ca(args.extra_ca_cert_file),
                    "delivery": delivery,
                    "profile": args.minikube_profile,
                    "load_command": list(args.load_command),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ref = built.ref
        self.register_outputs({"ref": self.ref})

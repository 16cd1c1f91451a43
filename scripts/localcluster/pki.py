"""The cluster's certificates and kubeconfigs, made once with openssl.

One CA signs everything: the API server's serving certificate, the admin's client
certificate (group system:masters) and one per node (system:node:NAME, which the Node
authorizer expects). Kubeconfigs embed what they need, so they can be handed to any tool.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from localstack.report import StackError

from localcluster import config
from localcluster.layout import ClusterLayout

DAYS = "3650"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError("pki", f"openssl {args[0]} failed: {done.stderr.strip()}")


def _leaf(pki: Path, name: str, subject: str, extensions: str) -> None:
    if (pki / f"{name}.crt").exists():
        return
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(
        "req",
        "-new",
        "-nodes",
        *EC_KEY,
        "-keyout",
        f"{name}.key",
        "-subj",
        subject,
        "-out",
        f"{name}.csr",
        cwd=pki,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        DAYS,
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=pki,
    )


def _client_ext() -> str:
    return "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"


def _server_ext(names: list[str], addresses: list[str]) -> str:
    alt = ",".join([*(f"DNS:{n}" for n in names), *(f"IP:{a}" for a in addresses)])
    return (
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={alt}\n"
    )


def first_service_ip() -> str:
    network = config.SERVICE_CIDR.split("/")[0].rsplit(".", 1)[0]
    return f"{network}.1"


def server_url() -> str:
    return f"https://127.0.0.1:{config.APISERVER_PORT}"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(pki: Path, name: str, target: Path) -> None:
    target.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: dccf-local
  cluster:
    server: {server_url()}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: {name}
  user:
    client-certificate-data: {_b64(pki / f"{name}.crt")}
    client-key-data: {_b64(pki / f"{name}.key")}
contexts:
- name: dccf-local
  context: {{cluster: dccf-local, user: {name}}}
current-context: dccf-local
"""
    )
    target.chmod(0o600)


def ensure(layout: ClusterLayout) -> None:
    pki = layout.pki
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    if not (pki / "ca.crt").exists():
        _openssl(
            "req",
            "-x509",
            "-new",
            "-nodes",
            *EC_KEY,
            "-keyout",
            "ca.key",
            "-days",
            DAYS,
            "-subj",
            "/CN=dccf-local-cluster-ca",
            "-out",
            "ca.crt",
            cwd=pki,
        )
    if not (pki / "sa.key").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
    ]
    _leaf(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        _server_ext(names, ["127.0.0.1", first_service_ip()]),
    )
    _leaf(pki, "admin", "/O=system:masters/CN=dccf-admin", _client_ext())
    for node in config.NODES:
        _leaf(pki, node.name, f"/O=system:nodes/CN=system:node:{node.name}", _client_ext())
        _leaf(
            pki,
            f"{node.name}-serving",
            f"/CN={node.name}",
            _server_ext([node.name], [node.ip, "127.0.0.1"]),
        )
    if not layout.admin_kubeconfig.exists():
        write_kubeconfig(pki, "admin", layout.admin_kubeconfig)
    for node in config.NODES:
        target = pki / f"{node.name}.kubeconfig"
        if not target.exists():
            write_kubeconfig(pki, node.name, target)

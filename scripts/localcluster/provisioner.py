"""A dynamic provisioner for the cluster's default StorageClass: one host folder per claim.

For every claim the PV controller hands to it (annotation volume.kubernetes.io/storage-
provisioner), it makes a folder that any user may write (the pods run as non-root users and
hostPath volumes ignore fsGroup) and a hostPath PersistentVolume bound to the claim. Both
nodes are this machine, so a volume serves wherever its pod lands. A released volume is
deleted with its folder, so `pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcluster import config
from localcluster.layout import ClusterLayout
from localcluster.pki import server_url

ANNOTATIONS = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
POLL_SECONDS = 1.0


def storage_class_manifest() -> str:
    return f"""\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {config.STORAGE_CLASS}
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: {config.PROVISIONER}
reclaimPolicy: Delete
volumeBindingMode: Immediate
"""


class Api:
    """Just enough of the API server's REST interface, with the admin's certificate."""

    def __init__(self, layout: ClusterLayout) -> None:
        self.context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
        self.context.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            server_url() + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read() or b"{}")


def _volume(claim: dict[str, Any], folder: Path) -> dict[str, Any]:
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {PROVISIONED_BY: config.PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec["accessModes"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": config.STORAGE_CLASS,
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "hostPath": {"path": str(folder), "type": "Directory"},
        },
    }


def provision(api: Api, volumes: Path) -> None:
    claims = api.call("GET", "/api/v1/persistentvolumeclaims")["items"]
    existing = {
        pv["metadata"]["name"] for pv in api.call("GET", "/api/v1/persistentvolumes")["items"]
    }
    for claim in claims:
        annotations = claim["metadata"].get("annotations") or {}
        ours = any(annotations.get(key) == config.PROVISIONER for key in ANNOTATIONS)
        name = f"pvc-{claim['metadata']['uid']}"
        if not ours or claim["status"].get("phase") != "Pending" or name in existing:
            continue
        folder = volumes / name
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)
        api.call("POST", "/api/v1/persistentvolumes", _volume(claim, folder))
        print(
            f"provisioned {name} for {claim['metadata']['namespace']}/{claim['metadata']['name']}",
            flush=True,
        )


def reclaim(api: Api, volumes: Path) -> None:
    for pv in api.call("GET", "/api/v1/persistentvolumes")["items"]:
        meta = pv["metadata"]
        released = pv["status"].get("phase") in ("Released", "Failed")
        ours = (meta.get("annotations") or {}).get(PROVISIONED_BY) == config.PROVISIONER
        if not (ours and released and pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"):
            continue
        folder = Path(pv["spec"]["hostPath"]["path"])
        if folder.parent == volumes:
            shutil.rmtree(folder, ignore_errors=True)
        api.call("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
        print(f"deleted {meta['name']} and its folder", flush=True)


def run(layout: ClusterLayout) -> None:
    """Serve claims until killed; API errors are logged and retried on the next round."""
    api = Api(layout)
    layout.volumes.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            provision(api, layout.volumes)
            reclaim(api, layout.volumes)
        except (urllib.error.URLError, OSError, KeyError) as error:
            print(f"retrying after: {error!r}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    run(ClusterLayout.discover())

"""The dynamic provider that builds the services image and gets it onto the nodes.

It runs only in a real `pulumi up`, in Pulumi's dynamic-provider process, which unpickles it
without `infra/` on its path. So the class is made inside a function (dill then pickles it by
value) and imports what it needs inside its methods.
"""

from __future__ import annotations

from typing import Any

import pulumi.dynamic


def make_provider() -> pulumi.dynamic.ResourceProvider:
    class ImageBuilder(pulumi.dynamic.ResourceProvider):
        """Inputs: ref, context, dockerfile, extra_ca (a PEM, may be empty), delivery
        ("minikube", "registry" or "command"), profile, load_command."""

        def _deliver(self, props: dict[str, Any]) -> None:
            import subprocess

            import docker
            import docker.errors

            client = docker.from_env()
            # A TLS-intercepting proxy's CA, for pip and apt inside the build.
            build_args = {"EXTRA_CA_CERT": props["extra_ca"]} if props.get("extra_ca") else {}
            try:
                client.images.build(
                    path=props["context"],
                    dockerfile=props["dockerfile"],
                    tag=props["ref"],
                    rm=True,
                    buildargs=build_args,
                    network_mode="host",
                )
            except docker.errors.BuildError as err:
                log = "".join(str(line.get("stream", "")) for line in err.build_log)
                raise RuntimeError(f"building {props['ref']} failed: {err}\n{log}") from None
            if props["delivery"] == "registry":
                repository, _, tag = props["ref"].rpartition(":")
                for line in client.images.push(repository, tag, stream=True, decode=True):
                    if "error" in line:
                        raise RuntimeError(
                            f"pushing {props['ref']} failed: {line['error']} "
                            "(log in with `docker login` to dccf:imageRegistry first)"
                        )
                return
            if props["delivery"] == "command":
                command = [*props["load_command"], props["ref"]]
                missing = f"{command[0]} was not found: check dccf:imageLoadCommand"
            else:
                command = ["minikube", "-p", props["profile"], "image", "load", props["ref"]]
                missing = (
                    "minikube is not on PATH: install it, or set dccf:imageRegistry (push the "
                    "image), dccf:imageLoadCommand (load it your way) or dccf:image (use a "
                    "prebuilt image)"
                )
            try:
                done = subprocess.run(command, capture_output=True, text=True, check=False)
            except FileNotFoundError:
                raise RuntimeError(missing) from None
            if done.returncode != 0:
                raise RuntimeError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")

        def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
            self._deliver(props)
            return pulumi.dynamic.CreateResult(id_=props["ref"], outs=props)

        def diff(
            self, _id: str, olds: dict[str, Any], news: dict[str, Any]
        ) -> pulumi.dynamic.DiffResult:
            # The context path may differ between checkouts; only what lands on nodes counts.
            # The CA is the build machine's business; it never changes what lands on nodes.
            keys = ("ref", "delivery", "profile", "load_command")
            changed = [key for key in keys if (olds.get(key) or None) != (news.get(key) or None)]
            return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed)

        def update(
            self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
        ) -> pulumi.dynamic.UpdateResult:
            self._deliver(news)
            return pulumi.dynamic.UpdateResult(outs=news)

    return ImageBuilder()

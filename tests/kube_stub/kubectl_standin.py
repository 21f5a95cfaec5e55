"""A TEST STAND-IN for kubectl: answers the `kubectl ... exec POD -- /bin/sh -c CMD` lines testinfra issues.

Each call appends its argv (JSON, one line) to $KUBECTL_STANDIN_LOG, so a test can show the exact commands.
The in-pod command runs on this machine with the pod's CA directory mapped to a local one
($KUBECTL_STANDIN_MAP = "/vault/secrets=/tmp/.../files"). $KUBECTL_STANDIN_NO_SHELL names containers that
answer like a distroless image (no /bin/sh). $KUBECTL_STANDIN_OWNER is the uid `stat` reports for the files
(in the pod the agent, running as istiod's uid, owns them). Anything but exec fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def parse(argv: list[str]) -> dict[str, str]:
    """kubectl's global flags as testinfra's kubectl backend writes them, then `exec POD -- /bin/sh -c CMD`."""
    options: dict[str, str] = {}
    rest = list(argv)
    while rest and rest[0] != "exec":
        flag = rest.pop(0)
        if flag.startswith("--kubeconfig=") or flag.startswith("--context="):
            name, _, value = flag[2:].partition("=")
            options[name] = value
        elif flag in ("-n", "-c"):
            options["namespace" if flag == "-n" else "container"] = rest.pop(0)
        else:
            raise SystemExit(f"error: unknown flag: {flag}")
    if not rest or rest[0] != "exec" or rest[2:5] != ["--", "/bin/sh", "-c"] or len(rest) != 6:
        raise SystemExit(f"error: the stand-in only answers exec POD -- /bin/sh -c CMD, not {argv}")
    options["pod"], options["command"] = rest[1], rest[5]
    return options


def _owned(line: bytes, owner: bytes) -> bytes:
    """`MODE UID PATH` with the pod's uid in place of this machine's."""
    mode, _uid, path = line.split(b" ", 2)
    return b" ".join((mode, owner, path))


def main() -> int:
    argv = sys.argv[1:]
    with open(os.environ["KUBECTL_STANDIN_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    options = parse(argv)
    if options.get("container") in os.environ.get("KUBECTL_STANDIN_NO_SHELL", "").split(","):
        sys.stderr.write(
            "error: Internal error occurred: error executing command in container: failed to exec in container: "
            "failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "
            '"/bin/sh": stat /bin/sh: no such file or directory: unknown\n'
        )
        return 1
    command = options["command"]
    pod_dir, _, local_dir = os.environ.get("KUBECTL_STANDIN_MAP", "").partition("=")
    if pod_dir:
        command = command.replace(pod_dir, local_dir)
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=False)
    stdout = done.stdout.replace(local_dir.encode(), pod_dir.encode()) if pod_dir else done.stdout
    owner = os.environ.get("KUBECTL_STANDIN_OWNER")
    if owner and command.startswith("stat "):
        stdout = b"".join(_owned(line, owner.encode()) for line in stdout.splitlines(keepends=True))
    sys.stdout.buffer.write(stdout)
    sys.stderr.buffer.write(done.stderr.replace(local_dir.encode(), pod_dir.encode()) if pod_dir else done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

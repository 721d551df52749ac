"""The official Python kubernetes client reading logs and running exec through the hub.

Usage: logs_exec_check.py KUBECONFIG POD CONTAINER

The pod's CONTAINER must have printed "quiet-start" as its only line and still be running.
Prints "all checks passed" at the end; any failed check raises.
"""
import sys

from kubernetes import client, config
from kubernetes.stream import stream


def main():
    kubeconfig, pod, container = sys.argv[1:4]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    log = v1.read_namespaced_pod_log(pod, "default", container=container)
    assert log == "quiet-start\n", repr(log)
    log = v1.read_namespaced_pod_log(pod, "default", container=container, tail_lines=1, timestamps=True)
    assert log.rstrip("\n").endswith(" quiet-start"), repr(log)
    print("logs ok")

    # Followed logs stream: the first line arrives while the request stays open.
    resp = v1.read_namespaced_pod_log(pod, "default", container=container, follow=True, _preload_content=False)
    first = next(resp.stream(amt=64))
    assert first.startswith(b"quiet-start"), first
    resp.release_conn()
    print("follow ok")

    try:
        v1.read_namespaced_pod_log("no-such-pod", "default")
        raise AssertionError("unknown pod must fail")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e.status
    print("errors ok")

    out = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container=container,
                 command=["sh", "-c", "echo from-exec"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "from-exec\n", repr(out)
    ws = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container=container,
                command=["sh", "-c", "echo oops >&2; exit 4"], stderr=True, stdin=False, stdout=True,
                tty=False, _preload_content=False)
    ws.run_forever(timeout=30)
    assert ws.returncode == 4, ws.returncode
    err = ws.read_stderr(timeout=5)
    assert "oops" in err, repr(err)
    print("exec ok")
    print("all checks passed")


if __name__ == "__main__":
    main()

"""The official Python kubernetes client reading logs and running exec through the hub.

Usage: logs_exec_check.py KUBECONFIG POD CONTAINER

The pod's CONTAINER must have printed "quiet-start" as its only line and still be running.
Prints "all checks passed" at the end; any failed check raises.
"""
import json
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

    # Stdin written as text frames, as this client does.
    ws = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container=container,
                command=["sh", "-c", "read line; echo got-$line"], stderr=True, stdin=True, stdout=True,
                tty=False, _preload_content=False)
    ws.write_stdin("typed\n")
    out = ""
    while ws.is_open() and "got-typed" not in out:
        ws.update(timeout=5)
        if ws.peek_stdout():
            out += ws.read_stdout()
    ws.close()
    assert "got-typed" in out, repr(out)
    print("stdin ok")

    # A TTY session follows the client's terminal size (channel 4).
    ws = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container=container,
                command=["sh", "-c", "for i in $(busybox seq 40); do busybox stty -a; sleep 0.25; done"],
                stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
    ws.write_channel(4, json.dumps({"Width": 100, "Height": 30}))
    seen = ""
    while ws.is_open() and "rows 30; columns 100" not in seen:
        ws.update(timeout=5)
        if ws.peek_stdout():
            seen += ws.read_stdout()
    ws.close()
    assert "rows 30; columns 100" in seen, repr(seen[-300:])
    print("tty resize ok")
    print("all checks passed")


if __name__ == "__main__":
    main()

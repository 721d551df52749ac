"""Drives the hub with the official Python `kubernetes` client.

Run by tests/python_client.rs against a real hub: python k8s_client_check.py KUBECONFIG.
Every call deserializes the hub's answer into the client's models, which fail loudly on a
missing required field or a wrong type. Exits non-zero on the first problem.
"""
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()
batch = client.BatchV1Api()
NS = "default"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


version = client.VersionApi().get_code()
check(version.major == "1", f"version {version}")

names = [n.metadata.name for n in core.list_namespace().items]
check("default" in names, f"namespaces {names}")

# Pods: create, read, patch, list by label, watch, delete.
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="localhost/busybox:latest", command=["sleep", "3600"])]),
)
created = core.create_namespaced_pod(NS, pod)
check(created.metadata.uid and created.metadata.resource_version, "created pod has uid and resourceVersion")
check(created.status.phase == "Pending", f"new pod phase {created.status.phase}")
got = core.read_namespaced_pod("py-pod", NS)
check(got.spec.containers[0].image == "localhost/busybox:latest", "read back the image")
check(got.spec.restart_policy == "Always", "defaults applied")
patched = core.patch_namespaced_pod("py-pod", NS, {"metadata": {"labels": {"patched": "yes"}}})
check(patched.metadata.labels.get("patched") == "yes", "strategic merge patch applied")
check(int(patched.metadata.resource_version) > int(created.metadata.resource_version), "resourceVersion moved on")
listed = core.list_namespaced_pod(NS, label_selector="app=py,patched in (yes)")
check([p.metadata.name for p in listed.items] == ["py-pod"], "list by set-based selector")
check(core.list_pod_for_all_namespaces(field_selector="metadata.name=py-pod").items, "list by field selector")

try:
    core.read_namespaced_pod("no-such-pod", NS)
    check(False, "reading a missing pod must fail")
except ApiException as e:
    check(e.status == 404, f"404 for a missing pod, got {e.status}")

events = []


def watcher():
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, NS, label_selector="app=py", timeout_seconds=8):
        events.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()


t = threading.Thread(target=watcher)
t.start()
time.sleep(1)
core.patch_namespaced_pod("py-pod", NS, {"metadata": {"annotations": {"touched": "1"}}})
core.delete_namespaced_pod("py-pod", NS)
t.join(timeout=15)
kinds = [e[0] for e in events]
check("ADDED" in kinds and "MODIFIED" in kinds and "DELETED" in kinds, f"watch saw {events}")

# Deployments: create, read, scale through the subresource, list, delete.
dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py-deploy"),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels={"app": "py-deploy"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "py-deploy"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="localhost/busybox:latest")]),
        ),
    ),
)
d = apps.create_namespaced_deployment(NS, dep)
check(d.spec.strategy.type == "RollingUpdate", "deployment defaults")
apps.patch_namespaced_deployment_scale("py-deploy", NS, {"spec": {"replicas": 3}})
check(apps.read_namespaced_deployment_scale("py-deploy", NS).spec.replicas == 3, "scaled to 3")
check(apps.read_namespaced_deployment("py-deploy", NS).spec.replicas == 3, "deployment spec follows its scale")
apps.patch_namespaced_deployment("py-deploy", NS, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "localhost/busybox:2"}]}}}})
check(apps.read_namespaced_deployment("py-deploy", NS).spec.template.spec.containers[0].image == "localhost/busybox:2", "template patched")
check([x.metadata.name for x in apps.list_namespaced_deployment(NS).items] == ["py-deploy"], "list deployments")

# Every kind the hub serves deserializes into the client's models.
core.list_node()
core.list_event_for_all_namespaces()
core.list_service_for_all_namespaces()
core.list_endpoints_for_all_namespaces()
core.list_config_map_for_all_namespaces()
core.list_secret_for_all_namespaces()
core.list_replication_controller_for_all_namespaces()
apps.list_replica_set_for_all_namespaces()
apps.list_daemon_set_for_all_namespaces()
apps.list_controller_revision_for_all_namespaces()
batch.list_job_for_all_namespaces()

apps.delete_namespaced_deployment("py-deploy", NS)
try:
    apps.read_namespaced_deployment("py-deploy", NS)
    check(False, "deleted deployment is gone")
except ApiException as e:
    check(e.status == 404, "deleted deployment answers 404")

print("python client: all checks passed")

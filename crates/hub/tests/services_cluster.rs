//! Services on an in-process cluster (hub + 2 agents on the fake runtime): the Endpoints
//! controller follows the selected pods as they come and go, a LoadBalancer Service lists the
//! Ready nodes as its ingress, and deleting a Service deletes its Endpoints.

mod common;

use std::time::Duration;

use common::{wait_for, Cluster};
use serde_json::json;
use shoal_hub::resources::{ENDPOINTS, PODS, REPLICASETS, SERVICES};

const LIMIT: Duration = Duration::from_secs(30);

fn endpoint_pods(c: &Cluster) -> Vec<String> {
    let Some(ep) = c.store.get(&ENDPOINTS, "default", "web") else {
        return Vec::new();
    };
    let mut names: Vec<String> = ep.value()["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["targetRef"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[actix_rt::test]
async fn endpoints_follow_pods_and_load_balancers_list_nodes() {
    let c = Cluster::start(2).await;
    c.create(&REPLICASETS, "default", json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "c", "image": "localhost/app:1", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}))
        .await;
    c.create(
        &SERVICES,
        "default",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.10", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}]}}),
    )
    .await;
    wait_for("3 ready endpoints", LIMIT, || endpoint_pods(&c).len() == 3).await;
    let ep = c
        .store
        .get(&ENDPOINTS, "default", "web")
        .expect("endpoints")
        .value();
    assert_eq!(
        ep["subsets"][0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );

    // A deleted pod drops out; its replacement comes in.
    let victim = endpoint_pods(&c)[0].clone();
    c.store
        .delete(&PODS, "default", &victim, None)
        .await
        .expect("deleted");
    wait_for("the deleted pod to leave the endpoints", LIMIT, || {
        let names = endpoint_pods(&c);
        names.len() == 3 && !names.contains(&victim)
    })
    .await;

    // LoadBalancer: the Ready nodes' addresses are the ingress (both agents use 127.0.0.1).
    wait_for("load balancer ingress", LIMIT, || {
        c.store.get(&SERVICES, "default", "web").is_some_and(|s| {
            s.value()["status"]["loadBalancer"]["ingress"]
                == json!([{"ip": "127.0.0.1", "ipMode": "VIP"}])
        })
    })
    .await;

    // Deleting the Service deletes its Endpoints.
    c.store
        .delete(&SERVICES, "default", "web", None)
        .await
        .expect("deleted");
    wait_for("the endpoints to go", LIMIT, || {
        c.store.get(&ENDPOINTS, "default", "web").is_none()
    })
    .await;
    c.stop().await;
}

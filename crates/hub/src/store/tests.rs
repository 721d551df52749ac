use super::*;
use crate::resources::{self, PODS};
use serde_json::json;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn open(dir: &Path) -> Store {
    Store::open(dir, resources::ALL).expect("store opens")
}

#[tokio::test]
async fn create_get_update_delete_with_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let a = store
        .create(&PODS, "default", pod("a"))
        .await
        .expect("create");
    assert_eq!(a.revision, 1);
    let v = a.value();
    assert_eq!(v["metadata"]["resourceVersion"], "1");
    assert_eq!(v["metadata"]["namespace"], "default");
    assert_eq!(v["metadata"]["generation"], 1);
    assert!(v["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));

    let dup = store.create(&PODS, "default", pod("a")).await;
    assert!(matches!(dup, Err(StoreError::AlreadyExists { .. })));

    // A spec change bumps generation; a label change does not.
    let mut changed = v.clone();
    changed["spec"]["containers"][0]["image"] = json!("busybox:2");
    let b = store
        .update(&PODS, "default", "a", changed)
        .await
        .expect("update");
    assert_eq!(b.revision, 2);
    assert_eq!(b.value()["metadata"]["generation"], 2);
    assert_eq!(b.value()["metadata"]["uid"], v["metadata"]["uid"]);

    // Stale resourceVersion: 409.
    let stale = store.update(&PODS, "default", "a", v.clone()).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "stale write must conflict"
    );

    let mut relabel = b.value();
    relabel["metadata"]["labels"]["tier"] = json!("front");
    let c = store
        .update(&PODS, "default", "a", relabel)
        .await
        .expect("relabel");
    assert_eq!(c.value()["metadata"]["generation"], 2);
    assert_eq!(c.label("tier"), Some("front"));

    let d = store
        .delete(&PODS, "default", "a", None)
        .await
        .expect("delete");
    assert_eq!(d.revision, 4);
    assert!(store.get(&PODS, "default", "a").is_none());
    let missing = store.delete(&PODS, "default", "a", None).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn mutate_without_change_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store
        .create(&PODS, "default", pod("a"))
        .await
        .expect("create");
    let same = store
        .mutate(&PODS, "default", "a", Box::new(|v| Ok(Some(v.clone()))))
        .await
        .expect("mutate");
    assert_eq!(same.revision, 1);
    assert_eq!(store.revision(), 1);
    let changed = store
        .mutate(
            &PODS,
            "default",
            "a",
            Box::new(|v| {
                let mut v = v.clone();
                v["status"] = json!({"phase": "Running"});
                Ok(Some(v))
            }),
        )
        .await
        .expect("mutate");
    assert_eq!(changed.revision, 2);
    assert_eq!(changed.field("status.phase"), Some("Running"));
    // Status changes do not bump generation.
    assert_eq!(changed.value()["metadata"]["generation"], 1);
}

#[tokio::test]
async fn list_filters_pages_and_namespaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for n in ["a", "b", "c"] {
        store
            .create(&PODS, "default", pod(n))
            .await
            .expect("create");
    }
    store
        .create(&PODS, "other", pod("z"))
        .await
        .expect("create");
    let all = store.list(&PODS, None, &|_| true, None, 0);
    assert_eq!(all.items.len(), 4);
    assert_eq!(all.revision, 4);
    let ns = store.list(&PODS, Some("default"), &|_| true, None, 0);
    assert_eq!(ns.items.len(), 3);
    // Page of 2 returns one extra item so the caller knows there is more.
    let page = store.list(&PODS, Some("default"), &|_| true, None, 2);
    assert_eq!(page.items.len(), 3);
    let next = store.list(
        &PODS,
        Some("default"),
        &|_| true,
        Some(&page.items[1].key),
        2,
    );
    assert_eq!(next.items.len(), 1);
    assert_eq!(next.items[0].namespace_and_name().1, "c");
    let only_b = store.list(
        &PODS,
        None,
        &|o| o.field("metadata.name") == Some("b"),
        None,
        0,
    );
    assert_eq!(only_b.items.len(), 1);
}

#[tokio::test]
async fn watch_history_resumes_and_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for i in 0..5 {
        store
            .create(&PODS, "default", pod(&format!("p{i}")))
            .await
            .expect("create");
    }
    let evs = store.events_after(2, 100).expect("history");
    assert_eq!(
        evs.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(evs.iter().all(|e| e.event_type == EventType::Added));
    assert!(store.events_after(5, 100).expect("none").is_empty());
}

#[tokio::test]
async fn watches_past_the_history_expire_and_disk_history_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with_history(dir.path(), resources::ALL, 4).expect("open");
    for i in 0..10 {
        store
            .create(&PODS, "default", pod(&format!("p{i}")))
            .await
            .expect("create");
    }
    // Revisions 7..=10 are kept: resuming after 6 works, after 5 does not.
    assert_eq!(store.events_after(6, 100).expect("in history").len(), 4);
    match store.events_after(5, 100) {
        Err(StoreError::Expired {
            requested: 5,
            oldest: 6,
        }) => {}
        other => panic!("expected Expired, got {:?}", other.map(|e| e.len())),
    }
    drop(store);
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(s) = Store::open_with_history(dir.path(), resources::ALL, 100) {
            reopened = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let store = reopened.expect("reopens");
    // Only the 4 kept on disk come back, even with a larger window.
    assert!(matches!(
        store.events_after(5, 100),
        Err(StoreError::Expired { .. })
    ));
    assert_eq!(store.events_after(6, 100).expect("kept").len(), 4);
}

#[tokio::test]
async fn concurrent_writers_get_distinct_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&PODS, "default", pod(&format!("p{i}"))).await
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.expect("join").expect("create").revision);
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 200);
    assert_eq!(store.revision(), 200);
}

#[test]
fn acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    {
        let store = open(dir.path());
        rt.block_on(async {
            store
                .create(&PODS, "default", pod("a"))
                .await
                .expect("create");
            store
                .create(&PODS, "default", pod("b"))
                .await
                .expect("create");
            store
                .delete(&PODS, "default", "a", None)
                .await
                .expect("delete");
        });
    }
    // The writer thread releases the directory shortly after the last handle is dropped.
    let mut reopened = None;
    for _ in 0..100 {
        match Store::open(dir.path(), resources::ALL) {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    let store = reopened.expect("store reopens");
    assert_eq!(store.revision(), 3);
    assert!(store.get(&PODS, "default", "a").is_none());
    let b = store.get(&PODS, "default", "b").expect("b survives");
    assert_eq!(b.revision, 2);
    let evs = store.events_after(0, 10).expect("history survives");
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2].event_type, EventType::Deleted);
}

#[tokio::test]
async fn api_writes_overtake_queued_bulk_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let bulk = store.with_lane(Lane::Bulk);
    bulk.create(&PODS, "default", pod("busy"))
        .await
        .expect("create");
    // Thousands of bulk writes queued (not awaited), as a rollout or status burst makes.
    let mut pending = Vec::new();
    for i in 0..3000u32 {
        let w = bulk
            .enqueue_mutate(
                &PODS,
                "default",
                "busy",
                Box::new(move |old| {
                    let mut v = old.clone();
                    v["metadata"]["labels"]["n"] = json!(i.to_string());
                    Ok(Some(v))
                }),
            )
            .await
            .expect("queued");
        pending.push(w);
    }
    let api = store
        .create(&PODS, "default", pod("urgent"))
        .await
        .expect("api create");
    let mut last_bulk = 0;
    for w in pending {
        last_bulk = w.await.expect("bulk write").revision;
    }
    assert_eq!(last_bulk, 3002, "every bulk write committed, in order");
    assert!(
        api.revision < last_bulk - 1000,
        "the API write (revision {}) waited behind the bulk queue (last bulk {last_bulk})",
        api.revision
    );
    // Both lanes close with the last handle: the writer exits and the directory reopens.
    drop((store, bulk));
}

#[tokio::test]
async fn memory_history_is_bounded_by_bytes_while_the_disk_keeps_its_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = serde_json::to_vec(&pod("p00")).expect("json").len();
    // Room for about five pods' JSON (they grow a little once stored).
    let store = Store::open_with_limits(dir.path(), resources::ALL, 8, one * 6).expect("open");
    for i in 0..20 {
        store
            .create(&PODS, "default", pod(&format!("p{i:02}")))
            .await
            .expect("create");
    }
    let kept = store.events_after(19, 100).expect("the newest is kept");
    assert_eq!(kept.len(), 1);
    assert!(
        matches!(store.events_after(12, 100), Err(StoreError::Expired { .. })),
        "eight changes fit the count bound but not the byte bound"
    );
    let first_kept = (1..20)
        .find(|r| store.events_after(*r, 100).is_ok())
        .expect("some history");
    assert!(first_kept > 12, "memory kept from revision {first_kept}");
    drop(store);
    // The disk kept the count window (8): a larger byte bound gets all of it back, and
    // nothing older (the disk's window moved although memory's was shorter).
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(s) = Store::open_with_limits(dir.path(), resources::ALL, 100, usize::MAX) {
            reopened = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let store = reopened.expect("reopens");
    assert_eq!(store.events_after(12, 100).expect("disk window").len(), 8);
    assert!(matches!(
        store.events_after(11, 100),
        Err(StoreError::Expired { .. })
    ));
}

//! Cache-aside against a real Redis: hits, namespace invalidation, stampede protection and
//! fall-through when Redis is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use motcua::cache::{Cache, Namespace, Source};
use motcua::redis::Redis;

use crate::helpers::{
    Silent, delete_redis_prefix, redis_connection, redis_keys, test_redis, unique,
};

const TTL: Duration = Duration::from_secs(60);
const LISTINGS: Namespace = Namespace("listings");
const PROCEDURES: Namespace = Namespace("procedures");

struct Fixture {
    cache: Cache,
    prefix: String,
    loads: Arc<AtomicUsize>,
}

impl Fixture {
    fn new() -> Self {
        let prefix = format!("{}:", unique("test"));
        let redis = test_redis(&prefix);
        Self {
            cache: Cache::new(redis),
            prefix,
            loads: Arc::default(),
        }
    }

    async fn get(&self, ns: Namespace, key: &str, value: &str) -> Result<String, String> {
        let loads = self.loads.clone();
        let value = value.to_string();
        self.cache
            .get_or_load(ns, key, TTL, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(value)
            })
            .await
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(delete_redis_prefix(&prefix))
        })
        .join();
    }
}

#[tokio::test]
async fn get_or_load_loads_once_then_serves_from_redis() {
    let f = Fixture::new();
    assert_eq!(f.get(LISTINGS, "page:1", "first").await.unwrap(), "first");
    assert_eq!(f.get(LISTINGS, "page:1", "second").await.unwrap(), "first");
    assert_eq!(f.loads(), 1);

    let (bytes, source) = f
        .cache
        .get_or_load_scoped(LISTINGS, "", "raw", TTL, || async {
            Ok::<_, String>(bytes::Bytes::from_static(b"{\"a\":1}"))
        })
        .await
        .unwrap();
    assert_eq!(
        (bytes.as_ref(), source),
        (&b"{\"a\":1}"[..], Source::Loader)
    );
    let (_, source) = f
        .cache
        .get_or_load_scoped(LISTINGS, "", "raw", TTL, || async {
            Err::<bytes::Bytes, _>("must not load".to_string())
        })
        .await
        .unwrap();
    assert_eq!(source, Source::Cache);
}

#[tokio::test]
async fn entries_are_written_under_the_prefix_with_a_ttl() {
    let f = Fixture::new();
    f.get(LISTINGS, "k", "v").await.unwrap();
    let keys = redis_keys(&format!("{}*", f.prefix)).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut conn = redis_connection();
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60, "ttl {ttl}");
}

#[tokio::test]
async fn invalidating_a_namespace_reloads_all_its_keys_and_only_its_keys() {
    let f = Fixture::new();
    f.get(LISTINGS, "page:1", "old-1").await.unwrap();
    f.get(LISTINGS, "page:2", "old-2").await.unwrap();
    f.get(PROCEDURES, "all", "procedures").await.unwrap();
    assert_eq!(f.loads(), 3);

    f.cache.invalidate(LISTINGS).await;

    assert_eq!(f.get(LISTINGS, "page:1", "new-1").await.unwrap(), "new-1");
    assert_eq!(f.get(LISTINGS, "page:2", "new-2").await.unwrap(), "new-2");
    assert_eq!(
        f.get(PROCEDURES, "all", "changed").await.unwrap(),
        "procedures"
    );
    assert_eq!(f.loads(), 5);
}

#[tokio::test]
async fn invalidation_is_seen_by_another_instance_sharing_redis() {
    let f = Fixture::new();
    let other = Cache::new(test_redis(&f.prefix));
    f.get(LISTINGS, "page:1", "old").await.unwrap();
    other.invalidate(LISTINGS).await;
    assert_eq!(f.get(LISTINGS, "page:1", "new").await.unwrap(), "new");
}

#[tokio::test]
async fn concurrent_misses_of_one_key_run_one_load() {
    let f = Arc::new(Fixture::new());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let loads = f.loads.clone();
            f.cache
                .get_or_load(LISTINGS, "hot", TTL, || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, String>(vec![1, 2, 3])
                })
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), vec![1, 2, 3]);
    }
    assert_eq!(f.loads(), 1);
}

#[tokio::test]
async fn a_failed_load_is_not_cached_and_waiters_retry() {
    let f = Arc::new(Fixture::new());
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (f, attempts) = (f.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            f.cache
                .get_or_load(LISTINGS, "flaky", TTL, || async move {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                    // The first load fails slowly, while the others wait for it.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    match attempt {
                        0 => Err("database down".to_string()),
                        _ => Ok("recovered".to_string()),
                    }
                })
                .await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert_eq!(failed, [&Err("database down".to_string())], "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_ok())
            .all(|r| r.as_deref() == Ok("recovered")),
        "{results:?}"
    );
    // The waiters did not each load for themselves, nor keep the failure.
    let loads = attempts.load(Ordering::SeqCst);
    assert!((2..10).contains(&loads), "{loads} loads");
    assert_eq!(
        f.get(LISTINGS, "flaky", "unused").await.unwrap(),
        "recovered"
    );
}

#[tokio::test]
async fn reads_fall_through_to_the_loader_quickly_when_redis_is_down() {
    // Redis accepts connections and never answers: each attempt costs its timeout, so only the
    // circuit breaker keeps reads fast. (A closed port refuses at once and proves nothing.)
    let silent = Silent::start().await;
    let prefix = format!("{}:", unique("test"));
    let redis = Redis::new(&format!("redis://{}", silent.addr), &prefix).unwrap();
    let cache = Cache::new(redis);
    let loads = Arc::new(AtomicUsize::new(0));
    let mut slow = 0;
    let started = Instant::now();
    for i in 0..20 {
        let loads = loads.clone();
        let read = Instant::now();
        let value: u32 = cache
            .get_or_load(LISTINGS, "k", TTL, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(i)
            })
            .await
            .unwrap();
        assert_eq!(value, i, "every read is served by the loader");
        if read.elapsed() >= Duration::from_millis(400) {
            slow += 1;
        }
    }
    cache.invalidate(LISTINGS).await;
    assert_eq!(loads.load(Ordering::SeqCst), 20);
    // Twenty reads that each waited for Redis' 500 ms timeout would take 10 s.
    assert!(
        slow <= 3 && started.elapsed() < Duration::from_secs(8),
        "a wedged Redis must not add its timeout to every read: {slow} slow reads, {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_disabled_cache_loads_every_read_and_stores_nothing() {
    let f = Fixture::new();
    let disabled = f.cache.clone().enabled(false);
    for _ in 0..3 {
        let loads = f.loads.clone();
        let (bytes, source) = disabled
            .get_or_load_scoped(PROCEDURES, "", "all", TTL, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(bytes::Bytes::from_static(b"fresh"))
            })
            .await
            .unwrap();
        assert_eq!((&bytes[..], source), (&b"fresh"[..], Source::Loader));
    }
    assert_eq!(f.loads(), 3, "every read runs its loader");
    // Nothing was written: the enabled cache on the same Redis misses.
    assert_eq!(
        f.get(PROCEDURES, "all", "from the enabled cache")
            .await
            .unwrap(),
        "from the enabled cache"
    );
    assert_eq!(f.loads(), 4);
}

#[tokio::test]
async fn a_read_after_an_invalidation_does_not_join_a_load_that_started_before_it() {
    let f = Fixture::new();
    let cache = f.cache.clone();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    // A load that read the old state and is still running when the write commits.
    let old = tokio::spawn(async move {
        cache
            .get_or_load_scoped(PROCEDURES, "citizen-1", "list", TTL, || async move {
                let _ = started_tx.send(());
                let _ = release_rx.await;
                Ok::<_, String>(bytes::Bytes::from_static(b"old"))
            })
            .await
    });
    started_rx.await.unwrap();
    f.cache.invalidate_scope(PROCEDURES, "citizen-1").await;
    let (bytes, _) = f
        .cache
        .get_or_load_scoped(PROCEDURES, "citizen-1", "list", TTL, || async {
            Ok::<_, String>(bytes::Bytes::from_static(b"new"))
        })
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"new", "the read after the write sees it");
    release_tx.send(()).unwrap();
    assert_eq!(&old.await.unwrap().unwrap().0[..], b"old");
}

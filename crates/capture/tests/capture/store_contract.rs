//! One contract for every `OperationStore`: the cases are written once, as
//! functions over `&dyn OperationStore`, and instantiated by [`contract!`]
//! for the in-memory store and (feature `redis`) for the Redis store on a
//! real `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use voxcap_capture::store::{
    Abandoned, Disposition, InMemoryStore, OperationStore, PendingOperation, Registration,
};
use voxcap_capture::wire::{OperationKey, RecordOperation};

const TTL: Duration = Duration::from_secs(60);

/// A store under test and whatever must live as long as it.
pub(crate) struct Fixture {
    pub store: Arc<dyn OperationStore>,
    /// A redis-server, for the Redis store.
    pub _server: Option<Box<dyn std::any::Any + Send>>,
}

fn key(n: u32) -> OperationKey {
    OperationKey::new(&format!("call-{n}"), &format!("op-{n}"))
}

fn pending(n: u32) -> PendingOperation {
    PendingOperation {
        call_id: format!("call-{n}"),
        operation_id: format!("op-{n}"),
        client_context: Some(format!("ctx-{n}")),
        deadline_ms: 60_000,
        settings: serde_json::json!({"request": {"maxRecordDurationInSeconds": 5}}),
    }
}

fn completion(n: u32) -> RecordOperation {
    serde_json::from_value(serde_json::json!({
        "@odata.type": "#microsoft.graph.recordOperation",
        "id": format!("op-{n}"),
        "status": "completed",
        "resultInfo": {"code": 200, "subcode": 8514},
        "recordingLocation": format!("https://file.location/{n}"),
        "recordingAccessToken": format!("token-{n}"),
    }))
    .unwrap()
}

/// The contract, one function per rule.
pub(crate) mod cases {
    use super::*;

    /// A completion before the registration is buffered and handed to it;
    /// every later copy is a duplicate.
    pub(crate) async fn complete_before_register(s: &dyn OperationStore) {
        let k = key(1);
        assert_eq!(
            s.complete(&k, &completion(1), TTL).await.unwrap(),
            Disposition::Buffered
        );
        match s.register(&k, &pending(1)).await.unwrap() {
            Registration::AlreadyCompleted(op) => {
                assert_eq!(op.id.as_deref(), Some("op-1"));
                assert_eq!(
                    op.recording_location.as_deref(),
                    Some("https://file.location/1")
                );
            }
            other => panic!("expected the buffered completion, got {other:?}"),
        }
        assert_eq!(
            s.complete(&k, &completion(1), TTL).await.unwrap(),
            Disposition::Duplicate
        );
    }

    /// A completion after the registration is delivered once.
    pub(crate) async fn complete_after_register(s: &dyn OperationStore) {
        let k = key(2);
        assert!(matches!(
            s.register(&k, &pending(2)).await.unwrap(),
            Registration::Pending
        ));
        assert_eq!(
            s.complete(&k, &completion(2), TTL).await.unwrap(),
            Disposition::Deliver
        );
        assert_eq!(
            s.complete(&k, &completion(2), TTL).await.unwrap(),
            Disposition::Duplicate
        );
        assert!(matches!(
            s.abandon(&k).await.unwrap(),
            Abandoned::Completed(_)
        ));
    }

    /// Duplicates are found whatever the id spelling (case, dashes).
    pub(crate) async fn ids_match_in_any_spelling(s: &dyn OperationStore) {
        let k = OperationKey::new("a1b2-c3d4", "e5f6-0708");
        let same = OperationKey::new("A1B2C3D4", "E5F60708");
        assert!(matches!(
            s.register(&k, &pending(3)).await.unwrap(),
            Registration::Pending
        ));
        assert_eq!(
            s.complete(&same, &completion(3), TTL).await.unwrap(),
            Disposition::Deliver
        );
        assert_eq!(
            s.complete(&k, &completion(3), TTL).await.unwrap(),
            Disposition::Duplicate
        );
    }

    /// An operation given up as lost ignores its late completion.
    pub(crate) async fn abandoned_then_late_completion(s: &dyn OperationStore) {
        let k = key(4);
        s.register(&k, &pending(4)).await.unwrap();
        assert!(matches!(s.abandon(&k).await.unwrap(), Abandoned::Lost));
        assert_eq!(
            s.complete(&k, &completion(4), TTL).await.unwrap(),
            Disposition::Duplicate
        );
    }

    /// Operations do not disturb each other.
    pub(crate) async fn keys_are_independent(s: &dyn OperationStore) {
        let (a, b) = (key(5), key(6));
        assert!(matches!(
            s.register(&a, &pending(5)).await.unwrap(),
            Registration::Pending
        ));
        assert_eq!(
            s.complete(&b, &completion(6), TTL).await.unwrap(),
            Disposition::Buffered
        );
        assert_eq!(
            s.complete(&a, &completion(5), TTL).await.unwrap(),
            Disposition::Deliver
        );
        assert!(matches!(
            s.register(&b, &pending(6)).await.unwrap(),
            Registration::AlreadyCompleted(_)
        ));
    }

    /// An early completion is kept only for its TTL.
    pub(crate) async fn early_completion_expires(s: &dyn OperationStore) {
        let k = key(7);
        let short = Duration::from_millis(50);
        assert_eq!(
            s.complete(&k, &completion(7), short).await.unwrap(),
            Disposition::Buffered
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(
            s.register(&k, &pending(7)).await.unwrap(),
            Registration::Pending
        ));
    }

    /// The first download claim of a delivered operation wins; finishing it
    /// leaves later copies duplicates.
    pub(crate) async fn claim_then_finish(s: &dyn OperationStore) {
        let k = key(8);
        s.register(&k, &pending(8)).await.unwrap();
        assert_eq!(
            s.complete(&k, &completion(8), TTL).await.unwrap(),
            Disposition::Deliver
        );
        assert!(s.claim_download(&k).await.unwrap(), "the first claim wins");
        s.finish(&k, "done", &serde_json::json!({"bytes": 1}))
            .await
            .unwrap();
        assert_eq!(
            s.complete(&k, &completion(8), TTL).await.unwrap(),
            Disposition::Duplicate
        );
    }

    /// Releasing a waiter succeeds, and the store keeps working.
    pub(crate) async fn release_then_continue(s: &dyn OperationStore) {
        let k = key(9);
        s.register(&k, &pending(9)).await.unwrap();
        s.release(&k).await.unwrap();
        let other = key(10);
        assert!(matches!(
            s.register(&other, &pending(10)).await.unwrap(),
            Registration::Pending
        ));
        assert_eq!(
            s.complete(&other, &completion(10), TTL).await.unwrap(),
            Disposition::Deliver
        );
    }

    /// With no dead instance, there is nothing to adopt.
    pub(crate) async fn nothing_to_adopt_alone(s: &dyn OperationStore) {
        s.register(&key(11), &pending(11)).await.unwrap();
        assert!(s.adopt_orphans().await.unwrap().is_empty());
    }
}

/// Instantiates every case of [`cases`] as a test over the stores that
/// `$make` (an async expression giving a [`Fixture`]) builds.
macro_rules! contract {
    ($module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            contract!(@cases $make;
                complete_before_register,
                complete_after_register,
                ids_match_in_any_spelling,
                abandoned_then_late_completion,
                keys_are_independent,
                early_completion_expires,
                claim_then_finish,
                release_then_continue,
                nothing_to_adopt_alone);
        }
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: $crate::store_contract::Fixture = $make.await;
                $crate::store_contract::cases::$case(&*fixture.store).await;
            }
        )*
    };
}

async fn in_memory() -> Fixture {
    Fixture {
        store: Arc::new(InMemoryStore::default()),
        _server: None,
    }
}

contract!(in_memory_store, in_memory());

#[cfg(feature = "redis")]
async fn redis() -> Fixture {
    use voxcap_capture::redis_store::{RedisStore, RedisStoreConfig};
    let server = voxcap_testkit::LocalRedis::start().expect("redis-server starts");
    let mut c = RedisStoreConfig::new(server.url());
    c.instance_id = "contract".into();
    let store = RedisStore::connect(c).await.expect("connect");
    Fixture {
        store,
        _server: Some(Box::new(server)),
    }
}

#[cfg(feature = "redis")]
contract!(redis_store, redis());

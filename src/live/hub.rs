//! The feed hub: one reader of the store's change feed per gateway, shared by every watch.
//! It wakes on the store's change signal (the embedded writer's commits, Postgres's
//! `NOTIFY`), reads what is new once, and broadcasts it as a batch to every subscriber: a
//! thousand watches cost one read of the feed per commit, not a thousand.
//!
//! The broadcast channel is the subscribers' bounded queue: a subscriber that falls more than
//! its capacity behind finds out (`Lagged`) and is cut off, never buffered without bound.
//! Each batch says which positions it covers, so a subscriber that joined late, or resumed from
//! an older position, reads the gap from the feed itself first: nothing falls between the two.
//!
//! The hub runs only while something listens: the first subscriber starts it, and it stops
//! when the last one has gone.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::store::{Change, DocumentStore, SharedStore, StoreError};

/// How many changes one read of the feed takes.
const PAGE: usize = 1000;

/// One change as every watch shares it: the change, and its document's JSON text, written once
/// however many watches send it.
pub(super) struct Entry {
    pub(super) change: Change,
    json: OnceLock<String>,
}

impl Entry {
    pub(super) fn new(change: Change) -> Arc<Self> {
        Arc::new(Self {
            change,
            json: OnceLock::new(),
        })
    }

    /// The document after the change as JSON text (`null` for a delete).
    pub(super) fn document_json(&self) -> &str {
        self.json.get_or_init(|| match &self.change.document {
            Some(doc) => serde_json::to_string(doc).unwrap_or_else(|_| "null".into()),
            None => "null".into(),
        })
    }
}

/// What the hub broadcasts.
pub(super) enum Batch {
    /// The committed changes with positions in `(from, through]`, oldest first.
    Changes {
        from: u64,
        through: u64,
        changes: Vec<Arc<Entry>>,
    },
    /// The hub's own position fell out of the feed's retention: subscribers start afresh.
    Reset,
}

/// A handle to the hub (cheap to clone).
#[derive(Clone)]
pub(super) struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Weak<dyn DocumentStore>,
    sender: broadcast::Sender<Arc<Batch>>,
    /// Whether the reader task runs; guarded so that starting and stopping never race.
    running: Mutex<bool>,
}

impl Hub {
    /// A hub over `store`, whose subscribers may fall `queue` batches behind.
    pub(super) fn new(store: &SharedStore, queue: usize) -> Self {
        let (sender, _) = broadcast::channel(queue.max(1));
        Self {
            inner: Arc::new(Inner {
                store: Arc::downgrade(store),
                sender,
                running: Mutex::new(false),
            }),
        }
    }

    /// A subscription to every batch from now on, for a subscriber that has seen (or reads for
    /// itself) the feed up to `from`. A reader that is not running starts at `from`, never at a
    /// head it reads later: a change committed after the subscriber looked, but before such a
    /// reader started, would otherwise reach nobody.
    pub(super) fn subscribe(&self, from: u64) -> broadcast::Receiver<Arc<Batch>> {
        let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.inner.sender.subscribe();
        if !*running {
            *running = true;
            tokio::spawn(run(Arc::downgrade(&self.inner), from));
        }
        receiver
    }
}

/// The reader: follows the feed from `position` (its first subscriber's), until nobody listens
/// or the store has gone.
async fn run(weak: Weak<Inner>, mut position: u64) {
    let Some(mut signal) = weak.upgrade().and_then(|inner| {
        let store = inner.store.upgrade()?;
        store.change_signal()
    }) else {
        stop(&weak);
        return;
    };
    // The reader holds the store only while it reads, so a dropped application stops it.
    let mut backoff = Duration::from_millis(100);
    loop {
        signal.borrow_and_update();
        let Some(store) = weak.upgrade().and_then(|inner| inner.store.upgrade()) else {
            stop(&weak);
            return;
        };
        match read_new(&store, &weak, &mut position).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(err) => {
                tracing::warn!(error = %err, "live queries: reading the change feed failed; retrying");
                drop(store);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                if idle(&weak) {
                    return;
                }
                continue;
            }
        }
        drop(store);
        if idle(&weak) {
            return;
        }
        // The signal is the wake-up; a slow timer only guards against a missed one.
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    stop(&weak);
                    return;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Reads and broadcasts everything after `position`.
async fn read_new(
    store: &SharedStore,
    weak: &Weak<Inner>,
    position: &mut u64,
) -> Result<(), StoreError> {
    loop {
        let page = match store.changes(*position, None, PAGE).await {
            Ok(page) => page,
            Err(StoreError::ResyncNeeded { .. }) => {
                let head = store.change_head().await?;
                *position = head;
                if let Some(inner) = weak.upgrade() {
                    let _ = inner.sender.send(Arc::new(Batch::Reset));
                }
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let full = page.items.len() == PAGE;
        if page.items.is_empty() {
            return Ok(());
        }
        let from = *position;
        *position = page.next_since;
        if let Some(inner) = weak.upgrade() {
            // No receiver: nothing to do (the reader stops below).
            let _ = inner.sender.send(Arc::new(Batch::Changes {
                from,
                through: page.next_since,
                changes: page.items.into_iter().map(Entry::new).collect(),
            }));
        }
        if !full {
            return Ok(());
        }
    }
}

/// Stops the reader when nobody listens; answers whether it stopped.
fn idle(weak: &Weak<Inner>) -> bool {
    let Some(inner) = weak.upgrade() else {
        return true;
    };
    let mut running = inner.running.lock().unwrap_or_else(|p| p.into_inner());
    if inner.sender.receiver_count() == 0 {
        *running = false;
        return true;
    }
    false
}

fn stop(weak: &Weak<Inner>) {
    if let Some(inner) = weak.upgrade() {
        *inner.running.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::store::local::LocalStore;
    use crate::store::{StoreCtx, TableName};

    /// A change committed after a subscriber read the head, but before the reader it started
    /// has run, still reaches the subscriber.
    #[tokio::test(flavor = "current_thread")]
    async fn a_reader_starts_where_its_first_subscriber_looked() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(LocalStore::open(dir.path()).unwrap());
        let hub = Hub::new(&store, 16);
        let head = store.change_head().await.unwrap();
        let mut batches = hub.subscribe(head);
        // The write commits on another thread while this one, the only one the reader can run
        // on, waits for it: the reader has not run yet.
        let writer = Arc::clone(&store);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let table = TableName::parse("items").unwrap();
            let fields = json!({"n": 1}).as_object().unwrap().clone();
            runtime
                .block_on(writer.insert(&StoreCtx::default(), &table, vec![fields]))
                .unwrap();
        })
        .join()
        .unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), batches.recv())
            .await
            .expect("the change is broadcast")
            .unwrap();
        match batch.as_ref() {
            Batch::Changes { changes, .. } => {
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0].change.table, "items");
            }
            Batch::Reset => panic!("a reset instead of the change"),
        }
    }
}

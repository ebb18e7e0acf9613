//! Group commit of pushed dossier batches: the batches of concurrent `POST
//! /api/v1/dossiers` requests are stored together, in one transaction, and each request is
//! answered with the counts of its own lines.
//!
//! A store pays per transaction for what does not grow with the lines (reading its part of
//! the block directory, rewriting each touched block, committing); portals pushing at once
//! share that cost instead of queueing on the store's one writer. A writing task takes the
//! first waiting batch and every batch that arrived meanwhile (up to [`GROUP_LINES`]
//! lines; once several senders were seen at once, it waits up to [`LINGER`] for them),
//! builds one [`KeyedBatch`] with each request's lines as one part
//! ([`BatchBuilder::next_part`]), and stores it with [`DossierStore::ingest_parts`]. The
//! requests of a group are applied in the order they reached the queue, as if one after
//! the other; if the transaction fails, every request of the group gets the error and
//! nothing of the group is stored.
//!
//! [`KeyedBatch`]: dxhub_ingest::KeyedBatch
//! [`DossierStore::ingest_parts`]: dxhub_store::DossierStore::ingest_parts

use std::sync::Arc;

use dxhub_ingest::{BatchBuilder, DossierSnapshot};
use dxhub_store::{IngestCounts, Store, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// The most lines one group takes (a request's batch is never split).
pub const GROUP_LINES: usize = 200_000;

/// How long a group waits for more requests once several senders were seen pushing at
/// the same time (a lone sender's requests are stored at once).
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(3);

struct Job {
    lines: Vec<DossierSnapshot>,
    reply: oneshot::Sender<StoreResult<IngestCounts>>,
}

/// The queue in front of one store. Cloning shares it.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> StoreError {
    StoreError::Database("the dossier writing task stopped".into())
}

impl GroupCommit {
    /// Starts the writing task on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> GroupCommit {
        let (jobs, mut queue) = mpsc::channel::<Job>(256);
        tokio::spawn(async move {
            // Whether the last group held several requests: senders are pushing at the
            // same time, so the next group waits a moment for them.
            let mut concurrent = false;
            // Kept from group to group, with the last batch given back to it, so that
            // each group fills buffers already in memory.
            let mut builder = BatchBuilder::new();
            while let Some(first) = queue.recv().await {
                let mut lines = first.lines.len();
                let mut group = vec![first];
                let until = tokio::time::Instant::now() + LINGER;
                while lines < GROUP_LINES {
                    let next = match queue.try_recv() {
                        Ok(job) => Some(job),
                        Err(_) if concurrent => tokio::time::timeout_at(until, queue.recv())
                            .await
                            .ok()
                            .flatten(),
                        Err(_) => None,
                    };
                    let Some(job) = next else { break };
                    lines += job.lines.len();
                    group.push(job);
                }
                concurrent = group.len() > 1;
                // Encoding and sorting the lines is CPU work: off the runtime's threads.
                let built = tokio::task::spawn_blocking(move || {
                    let mut replies = Vec::with_capacity(group.len());
                    for (n, job) in group.into_iter().enumerate() {
                        if n > 0 {
                            builder.next_part();
                        }
                        for s in &job.lines {
                            builder.push(s);
                        }
                        replies.push(job.reply);
                    }
                    (Arc::new(builder.finish()), replies, builder)
                })
                .await;
                let Ok((batch, replies, back)) = built else {
                    // The replies were dropped: each request learns it stopped.
                    builder = BatchBuilder::new();
                    continue;
                };
                builder = back;
                let result = store.ingest_parts(Arc::clone(&batch)).await;
                if let Some(batch) = Arc::into_inner(batch) {
                    builder.recycle(batch);
                }
                match result {
                    Ok(counts) => {
                        for (reply, c) in replies.into_iter().zip(counts) {
                            let _ = reply.send(Ok(c));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        GroupCommit { jobs }
    }

    /// Whether the writing task still takes batches: it ends with the Tokio runtime it
    /// was started on, or if it panicked.
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }

    /// Stores a batch of validated snapshots (in arrival order) with the batches of other
    /// requests waiting at the same time; answers with this batch's own counts.
    pub async fn ingest(&self, lines: Vec<DossierSnapshot>) -> StoreResult<IngestCounts> {
        if lines.is_empty() {
            return Ok(IngestCounts::default());
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { lines, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

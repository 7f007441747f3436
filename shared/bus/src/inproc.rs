//! The in-process bus of `cairn up`: one queue per worker kind on tokio channels, with the
//! same semantics the JetStream adapter has (dedup by job id while pending, nak with delay).

use crate::{Acker, BusError, Delivery, JobBus, JobMessage, Subscription};
use async_trait::async_trait;
use cairn_domain::{JobId, JobKind};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

type Item = (JobMessage, u32);

struct Queue {
    tx: mpsc::UnboundedSender<Item>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
}

struct Inner {
    queues: HashMap<JobKind, Queue>,
    /// Job ids published and not yet acked: a second publish is a duplicate.
    pending: Mutex<HashSet<JobId>>,
}

/// A bus inside one process. Queues are unbounded because a message is a few dozen bytes
/// and the ledger, not the queue, limits how many jobs exist.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    pub fn new() -> Self {
        let queues = JobKind::ALL
            .into_iter()
            .map(|k| {
                let (tx, rx) = mpsc::unbounded_channel();
                (
                    k,
                    Queue {
                        tx,
                        rx: Arc::new(tokio::sync::Mutex::new(rx)),
                    },
                )
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                queues,
                pending: Mutex::new(HashSet::new()),
            }),
        }
    }

    fn send(&self, item: Item) -> Result<(), BusError> {
        let q = &self.inner.queues[&item.0.kind];
        q.tx.send(item).map_err(|_| BusError::Closed)
    }

    /// How many published jobs are not yet acked (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.inner.pending.lock().expect("bus lock").len()
    }
}

#[async_trait]
impl JobBus for InProcessBus {
    async fn publish(&self, msg: JobMessage) -> Result<(), BusError> {
        let fresh = self
            .inner
            .pending
            .lock()
            .expect("bus lock")
            .insert(msg.job_id);
        if fresh {
            self.send((msg, 1))?;
        }
        Ok(())
    }

    async fn subscribe(&self, kind: JobKind) -> Result<Box<dyn Subscription>, BusError> {
        let rx = self.inner.queues[&kind].rx.clone();
        Ok(Box::new(InProcessSubscription {
            bus: self.clone(),
            rx,
        }))
    }
}

struct InProcessSubscription {
    bus: InProcessBus,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        let (msg, delivered) = self.rx.lock().await.recv().await?;
        let acker = InProcessAcker {
            bus: self.bus.clone(),
            msg: msg.clone(),
            delivered,
        };
        Some(Delivery::new(msg, delivered, Box::new(acker)))
    }
}

struct InProcessAcker {
    bus: InProcessBus,
    msg: JobMessage,
    delivered: u32,
}

#[async_trait]
impl Acker for InProcessAcker {
    async fn ack(&self) {
        self.bus
            .inner
            .pending
            .lock()
            .expect("bus lock")
            .remove(&self.msg.job_id);
    }

    async fn nak(&self, delay: Duration) {
        let bus = self.bus.clone();
        let item = (self.msg.clone(), self.delivered + 1);
        // The redelivery timer is owned by the runtime; if the process stops first, the
        // scheduler's reconcile republishes the job from the ledger on the next start.
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = bus.send(item);
        });
    }

    async fn progress(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::TargetName;

    fn msg(n: u128) -> JobMessage {
        JobMessage {
            job_id: JobId(uuid::Uuid::from_u128(n)),
            kind: JobKind::Backup,
            target: TargetName::parse("t").unwrap(),
        }
    }

    #[tokio::test]
    async fn dedups_pending_and_redelivers_naks() {
        let bus = InProcessBus::new();
        let mut sub = bus.subscribe(JobKind::Backup).await.unwrap();
        bus.publish(msg(1)).await.unwrap();
        bus.publish(msg(1)).await.unwrap();
        bus.publish(msg(2)).await.unwrap();
        let d1 = sub.next().await.unwrap();
        let d2 = sub.next().await.unwrap();
        assert_eq!(
            (d1.msg.clone(), d2.msg.clone()),
            (msg(1), msg(2)),
            "the duplicate of job 1 was dropped"
        );
        d1.nak(Duration::from_millis(1)).await;
        let again = sub.next().await.unwrap();
        assert_eq!((again.msg.clone(), again.delivered), (msg(1), 2));
        again.ack().await;
        d2.ack().await;
        assert_eq!(bus.pending(), 0);
        bus.publish(msg(1)).await.unwrap();
        assert_eq!(
            sub.next().await.unwrap().msg,
            msg(1),
            "after ack the id may be published again"
        );
    }
}

//! The worker loop (`cairn_bus::worker`) against a real scheduler: a rejected append makes
//! the attempt report its failure; a fenced attempt stops and records nothing more.

use cairn_bus::inproc::InProcessBus;
use cairn_bus::worker::{run_worker, AttemptCtx, AttemptRunner, WorkerConfig};
use cairn_bus::{ClaimReply, Control, ControlExt, JobBus, WorkerEvent};
use cairn_domain::{Attempt, Failure, JobKind, JobStatus, WorkerId};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::conformance::{backup, worker, TARGETS};
use cairn_scheduler::{Scheduler, Settings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

async fn scheduler(
    dir: &tempfile::TempDir,
    bus: Arc<InProcessBus>,
    settings: Settings,
) -> Scheduler {
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"33".repeat(32)).unwrap();
    let s = Scheduler::new(ledger, bus, keyring, dir.path(), settings)
        .await
        .unwrap();
    let (name, url) = TARGETS[0];
    let target = cairn_domain::Target {
        name: cairn_domain::TargetName::parse(name).unwrap(),
        endpoint: cairn_domain::Endpoint::parse(url).unwrap(),
        credential: cairn_domain::CredentialRef::None,
        storage: cairn_domain::StorageName::default_storage(),
        created_at: chrono::Utc::now(),
        ca_file: None,
    };
    s.ledger().put_target(&target, None).await.unwrap();
    s
}

fn start_worker(
    bus: Arc<InProcessBus>,
    s: &Scheduler,
    runner: Arc<dyn AttemptRunner>,
    heartbeat: Duration,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let config = WorkerConfig {
        kind: JobKind::Backup,
        worker_id: WorkerId("loop".into()),
        concurrency: 1,
        heartbeat,
    };
    let control: Arc<dyn Control> = Arc::new(s.clone());
    let bus: Arc<dyn JobBus> = bus;
    let done = stop.clone().cancelled_owned();
    let handle = tokio::spawn(async move {
        run_worker(config, bus, control, runner, done)
            .await
            .expect("the worker runs")
    });
    (stop, handle)
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Claims succeed at once, without a stored backup: the state machine refuses it.
struct SucceedsTooEarly;

#[async_trait::async_trait]
impl AttemptRunner for SucceedsTooEarly {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        ctx.append(vec![WorkerEvent::JobSucceeded]).await
    }
}

#[tokio::test]
async fn a_rejected_append_fails_the_attempt_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(InProcessBus::new());
    let s = scheduler(&dir, bus.clone(), Settings::default()).await;
    let (stop, _) = start_worker(
        bus.clone(),
        &s,
        Arc::new(SucceedsTooEarly),
        Duration::from_secs(1),
    );
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;
    until("the job to end", || {
        s.ledger().job(job).unwrap().unwrap().status.is_terminal()
    })
    .await;
    let state = s.ledger().job(job).unwrap().unwrap();
    assert_eq!(state.status, JobStatus::Failed);
    let failure = state.failure.unwrap();
    assert_eq!(failure.code, "rejected", "{failure:?}");
    assert!(failure.message.contains("JobSucceeded"), "{failure:?}");
    until("the message to be acked", || bus.pending() == 0).await;
    stop.cancel();
}

/// Starts, tells the test, waits to be let go, then tries to store a backup.
struct Held {
    started: mpsc::UnboundedSender<()>,
    go: Arc<Notify>,
    outcome: mpsc::UnboundedSender<(bool, Result<(), Failure>)>,
}

#[async_trait::async_trait]
impl AttemptRunner for Held {
    async fn run(&self, ctx: Arc<AttemptCtx>) -> Result<(), Failure> {
        ctx.append(vec![WorkerEvent::JobStarted {
            server_version: "15".into(),
        }])
        .await?;
        let _ = self.started.send(());
        self.go.notified().await;
        let r = ctx
            .append(vec![WorkerEvent::PartialArtifactRemoved {
                path: "orders/x/".into(),
            }])
            .await;
        let _ = self.outcome.send((ctx.cancel.is_cancelled(), r.clone()));
        r
    }
}

#[tokio::test]
async fn a_fenced_attempt_stops_and_records_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(InProcessBus::new());
    let settings = Settings {
        lease: Duration::from_secs(1),
        ..Settings::default()
    };
    let s = scheduler(&dir, bus.clone(), settings).await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (outcome_tx, mut outcome) = mpsc::unbounded_channel();
    let go = Arc::new(Notify::new());
    let runner = Held {
        started: started_tx,
        go: go.clone(),
        outcome: outcome_tx,
    };
    // A heartbeat far longer than the lease: the attempt goes silent while held.
    let (stop, worker_loop) =
        start_worker(bus.clone(), &s, Arc::new(runner), Duration::from_secs(3600));
    let job = s.enqueue(backup("orders"), "test").await.unwrap().job_id;
    tokio::time::timeout(DEADLINE, started.recv())
        .await
        .expect("the attempt started")
        .unwrap();

    // Its lease lapses; another worker takes the job over as attempt 2.
    let start = Instant::now();
    loop {
        if let ClaimReply::Granted(g) = s.claim_job(job, &worker(2)).await.unwrap() {
            assert_eq!(g.attempt, Attempt(2));
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the lease never lapsed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = s.ledger().events(job).unwrap().len();

    go.notify_one();
    let (cancelled, result) = tokio::time::timeout(DEADLINE, outcome.recv())
        .await
        .expect("the held attempt went on")
        .unwrap();
    let failure = result.expect_err("a fenced append fails");
    assert_eq!(failure.code, "fenced", "{failure:?}");
    assert!(cancelled, "a fenced attempt cancels itself");

    // Stop the worker: it returns once the fenced attempt is settled. It recorded no
    // failure: attempt 2 still owns the job.
    stop.cancel();
    tokio::time::timeout(DEADLINE, worker_loop)
        .await
        .expect("the worker stopped")
        .unwrap();
    let state = s.ledger().job(job).unwrap().unwrap();
    assert_eq!((state.status, state.attempt), (JobStatus::Running, 2));
    assert_eq!(
        s.ledger().events(job).unwrap().len(),
        events,
        "nothing from the fenced attempt reached the ledger"
    );
}

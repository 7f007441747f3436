//! Bodies of the HTTP API under `/v1`: what the CLI sends and receives.
//!
//! Their JSON Schemas are generated into `schemas/` (see `schema_documents`).

use crate::endpoint::{Engine, Scope};
use crate::event::{EventEnvelope, StreamKind};
use crate::ids::JobId;
use crate::job::{JobKind, JobStatus};
use crate::manifest::{Manifest, Trust};
pub use crate::policy::{ScheduleSetRequest, ScheduleView};
use crate::role::Role;
use crate::state::JobState;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How `target add` passes a password. A value travels once, to be sealed by the server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PasswordInput {
    Env { var: String },
    File { path: String },
    Value { value: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TargetAddRequest {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Absolute path of a PEM file with the CA certificates that sign the database
    /// server's TLS certificate (read when a job runs; not a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// `PATCH /v1/targets/{name}`: what changes (absent fields stay as they are).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct TargetUpdateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TargetView {
    pub name: String,
    pub engine: Engine,
    /// The URL without any secret.
    pub url: String,
    pub scope: Scope,
    pub storage: String,
    /// `none`, `sealed`, `env:VAR` or `file:PATH`: never the password.
    pub credential: String,
    pub created_at: DateTime<Utc>,
    /// The CA file TLS to the database is checked against, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StorageAddRequest {
    pub name: String,
    /// `file:///absolute/path` or `s3://bucket/folder`.
    pub url: String,
    /// S3: `http(s)://host[:port]` of an S3-compatible server (AWS when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3: where the access key id comes from (env or file reference, or a value sealed
    /// by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<PasswordInput>,
    /// S3: where the secret access key comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<PasswordInput>,
    /// S3: accept an endpoint at a link-local or cloud metadata address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_endpoint: bool,
    /// Encrypt every artifact before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionInput>,
}

/// `--encrypt age`: to recipients (public keys), or with a passphrase.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EncryptionInput {
    Age {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recipients: Vec<String>,
        /// An age identity file on the workers that run restores (absolute path).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity_file: Option<String>,
        /// Env or file reference (a value is sealed by the server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<PasswordInput>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StorageView {
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// How the S3 keys are found (`env:VAR`, `file:PATH`, `sealed`): never a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// How artifacts are encrypted (`age (1 recipient(s), identity file:/run/secrets/k)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BackupRequest {
    pub target: String,
}

/// `POST /v1/checks`: run a target's preflight (connect, credentials, version, primary)
/// as a job, touching no data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckRequest {
    pub target: String,
}

/// `POST /v1/prunes`: prune a target now. Without `keep`, the default (the newest 5).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PruneRequest {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<crate::Keep>,
}

/// `POST /v1/forgets`: delete one backup, or (`purge`, without `backup`) every backup of
/// the target.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ForgetRequest {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purge: bool,
}

/// `GET /v1/targets/{name}/prune`: what a prune would do, one entry per listed backup,
/// newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PrunePlanEntry {
    pub backup: String,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub verdict: crate::retention::Verdict,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RestoreRequest {
    /// The database to overwrite.
    pub target: String,
    /// A backup id, or `latest`.
    pub backup: String,
    /// Whose backup to restore; defaults to `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Restore a backup that is not signed by this cairn (unsigned, or signed with another
    /// key). Only after the operator checked where the backup comes from.
    #[serde(default)]
    pub trust_unsigned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobCreated {
    pub job_id: JobId,
    pub kind: JobKind,
    pub target: String,
    /// For restores: the concrete backup id `latest` resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// `GET /v1/jobs/{id}`: the folded state and the whole timeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobView {
    pub state: JobState,
    pub events: Vec<EventEnvelope>,
}

/// One backup as `cairn backups` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BackupView {
    pub id: String,
    pub target: String,
    pub created_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
    pub engine: Engine,
    pub server_version: String,
    pub scope: Scope,
    pub job_id: JobId,
    pub storage: String,
    pub duration_seconds: f64,
    /// Whether this cairn signed the backup and it is unchanged (`trust` is `signed`).
    pub signed: bool,
    /// `signed`, `unsigned`, `foreign` (another key) or `tampered`.
    pub trust: Trust,
}

impl BackupView {
    pub fn from_manifest(m: &Manifest, storage: &str, trust: Trust) -> Self {
        Self {
            id: m.id.to_string(),
            target: m.target.to_string(),
            created_at: m.created_at,
            size_bytes: m.size_bytes,
            stored_bytes: m.stored_bytes,
            sha256: m.sha256.clone(),
            engine: m.engine,
            server_version: m.server_version.clone(),
            scope: m.scope.clone(),
            job_id: m.job_id,
            storage: storage.to_string(),
            duration_seconds: m.duration_seconds,
            signed: trust == Trust::Signed,
            trust,
        }
    }
}

/// One job in `cairn history`, or one change of a target's configuration (kind `config`:
/// `job_id` is the target's configuration stream, `change` says what changed, `status` is
/// `succeeded`, `requested_by` the token that made it).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    pub job_id: JobId,
    pub kind: StreamKind,
    pub target: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub requested_by: String,
    pub queued_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a configuration change: the event type and what it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

impl HistoryEntry {
    /// The entry of a configuration event (`None` for an event of a job).
    pub fn of_config_event(e: &EventEnvelope) -> Option<Self> {
        let change = crate::config::describe_change(&e.payload)?;
        Some(Self {
            job_id: e.job_id,
            kind: StreamKind::Config,
            target: e.target.to_string(),
            status: JobStatus::Succeeded,
            attempts: 0,
            requested_by: e
                .actor
                .token
                .as_ref()
                .map_or_else(|| e.actor.service.clone(), ToString::to_string),
            queued_at: e.at,
            updated_at: e.at,
            backup: None,
            error: None,
            change: Some(change),
        })
    }
}

impl From<&JobState> for HistoryEntry {
    fn from(s: &JobState) -> Self {
        let backup = match &s.spec {
            crate::job::JobSpec::Restore { backup, .. } => Some(backup.to_string()),
            _ => s.backup.as_ref().map(|m| m.id.to_string()),
        };
        Self {
            job_id: s.job_id,
            kind: s.kind().into(),
            target: s.spec.target().to_string(),
            status: s.status,
            attempts: s.attempt,
            requested_by: s.requested_by.clone(),
            queued_at: s.queued_at,
            updated_at: s.updated_at,
            backup,
            error: s
                .failure
                .as_ref()
                .filter(|_| s.status != JobStatus::Succeeded)
                .map(|f| f.message.clone()),
            change: None,
        }
    }
}

/// `POST /v1/tokens`: a new token for `name` (same rules as a target's name) with `role`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreateRequest {
    pub name: String,
    pub role: Role,
}

/// The answer to `POST /v1/tokens`: the only time the token itself is shown.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub name: String,
    pub role: Role,
    /// The bearer token (`cairn_…`); the server keeps only its hash.
    pub token: String,
    pub created_at: DateTime<Utc>,
}

/// One token as `GET /v1/tokens` lists it: never the token or its hash.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenView {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// The token whose request created this one; absent for the first admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Set once revoked; a revoked token's name is not reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One denied request (`GET /v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The token's name, or `anonymous` when no known token was presented.
    pub token: String,
    pub method: String,
    pub path: String,
    /// 401 or 403.
    pub status: u16,
    /// `missing_token`, `unknown_token` or `insufficient_role`.
    pub reason: String,
}

/// Every error the API returns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable code: `not_found`, `invalid`, `conflict`, `internal`, `unauthenticated`,
    /// `forbidden`.
    pub code: String,
    pub message: String,
    /// A refused job request is still recorded: the id of that record (`cairn job ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
}

/// The JSON Schemas of every API body, named as in `schemas/` (`<name>.json`).
pub fn schema_documents() -> Vec<(&'static str, schemars::schema::RootSchema)> {
    use schemars::schema_for;
    let mut docs = vec![
        ("target-add-request", schema_for!(TargetAddRequest)),
        ("target", schema_for!(TargetView)),
        ("storage-add-request", schema_for!(StorageAddRequest)),
        ("storage", schema_for!(StorageView)),
        ("backup-request", schema_for!(BackupRequest)),
        ("restore-request", schema_for!(RestoreRequest)),
        ("check-request", schema_for!(CheckRequest)),
        ("prune-request", schema_for!(PruneRequest)),
        ("target-update-request", schema_for!(TargetUpdateRequest)),
        ("forget-request", schema_for!(ForgetRequest)),
        ("prune-plan-entry", schema_for!(PrunePlanEntry)),
        ("job-created", schema_for!(JobCreated)),
        ("job", schema_for!(JobView)),
        ("backup", schema_for!(BackupView)),
        ("history-entry", schema_for!(HistoryEntry)),
        ("error", schema_for!(ErrorBody)),
        ("token-create-request", schema_for!(TokenCreateRequest)),
        ("token-created", schema_for!(TokenCreated)),
        ("token", schema_for!(TokenView)),
        ("audit-entry", schema_for!(AuditEntry)),
        ("event", schema_for!(EventEnvelope)),
        ("manifest", schema_for!(Manifest)),
        ("schedule-set-request", schema_for!(ScheduleSetRequest)),
        ("schedule", schema_for!(ScheduleView)),
        (
            "notifier-add-request",
            schema_for!(crate::notify::NotifierAddRequest),
        ),
        ("notifier", schema_for!(crate::notify::Notifier)),
        ("notification", schema_for!(crate::notify::Notification)),
        ("delivery", schema_for!(crate::notify::Delivery)),
    ];
    docs.extend(crate::control::schema_documents());
    docs
}

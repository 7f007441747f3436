//! Tokens on the control plane: every `cairn.ctl.*` request carries the worker's token;
//! the token store decides as for the HTTP API (role `worker`, which `admin` covers), and
//! every refusal is logged and recorded in the audit (method `NATS`, path = the subject).
//! Platform requests go through the API's own middleware (see `requests`).

use crate::Scheduler;
use async_trait::async_trait;
use cairn_bus::ControlError;
use cairn_bus_nats::ctl::Authorize;
use cairn_domain::api::AuditEntry;
use cairn_domain::Role;
use chrono::Utc;

pub struct TokenAuthorizer {
    scheduler: Scheduler,
}

impl TokenAuthorizer {
    pub fn new(scheduler: Scheduler) -> Self {
        Self { scheduler }
    }

    async fn deny(&self, subject: &str, token: String, status: u16, reason: &str) {
        let entry = AuditEntry {
            at: Utc::now(),
            token,
            method: "NATS".into(),
            path: subject.chars().take(256).collect(),
            status,
            reason: reason.into(),
        };
        tracing::warn!(token = %entry.token, subject = ?entry.path, reason, "NATS request denied");
        if let Err(e) = self.scheduler.ledger().record_denial(&entry).await {
            tracing::error!(error = %e, "recording a denied NATS request in the audit failed");
        }
    }
}

const HOW_TO: &str = "workers read their token from CAIRN_TOKEN or --token-file (create \
    one with `cairn token create NAME --role worker`)";

#[async_trait]
impl Authorize for TokenAuthorizer {
    async fn authorize(
        &self,
        token: Option<&str>,
        subject: &str,
        needed: Role,
    ) -> Result<String, ControlError> {
        let Some(presented) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            self.deny(subject, "anonymous".into(), 401, "missing_token")
                .await;
            return Err(ControlError::Unauthorized {
                reason: format!("{subject} needs a token: {HOW_TO}"),
            });
        };
        let record =
            crate::tokens::authenticate(self.scheduler.ledger(), presented).map_err(|e| {
                ControlError::Unavailable {
                    reason: e.to_string(),
                }
            })?;
        let Some(record) = record else {
            self.deny(subject, "anonymous".into(), 401, "unknown_token")
                .await;
            return Err(ControlError::Unauthorized {
                reason: format!("the token presented on {subject} is unknown or revoked: {HOW_TO}"),
            });
        };
        if !record.role.covers(needed) {
            self.deny(subject, record.name.to_string(), 403, "insufficient_role")
                .await;
            return Err(ControlError::Unauthorized {
                reason: format!(
                    "{subject} needs role {needed}; token {} has role {}",
                    record.name, record.role
                ),
            });
        }
        Ok(record.name.to_string())
    }
}

//! Tokens on NATS: a control call or platform request presents `Authorization: Bearer
//! <token>`; the token store decides as for the HTTP API, and every refusal is logged and
//! recorded in the audit (method `NATS`, path = the subject).

use crate::Scheduler;
use async_trait::async_trait;
use cairn_bus_nats::ctl::{bearer, Authorize};
use cairn_bus_nats::wire::WireError;
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

const HOW_TO: &str = "send `Authorization: Bearer <token>` as a NATS header; workers read \
    their token from CAIRN_TOKEN or --token-file (create one with `cairn token create NAME \
    --role worker`)";

#[async_trait]
impl Authorize for TokenAuthorizer {
    async fn authorize(
        &self,
        authorization: Option<&str>,
        subject: &str,
        needed: Role,
    ) -> Result<String, WireError> {
        let Some(presented) = bearer(authorization) else {
            self.deny(subject, "anonymous".into(), 401, "missing_token")
                .await;
            return Err(WireError::Unauthenticated {
                message: format!("{subject} needs a token: {HOW_TO}"),
            });
        };
        let record = match crate::tokens::authenticate(self.scheduler.ledger(), presented) {
            Ok(r) => r,
            Err(e) => {
                return Err(WireError::Control {
                    error: cairn_bus::ControlError::Unavailable(e.to_string()),
                })
            }
        };
        let Some(record) = record else {
            self.deny(subject, "anonymous".into(), 401, "unknown_token")
                .await;
            return Err(WireError::Unauthenticated {
                message: format!(
                    "the token presented on {subject} is unknown or revoked: {HOW_TO}"
                ),
            });
        };
        if !record.role.covers(needed) {
            self.deny(subject, record.name.to_string(), 403, "insufficient_role")
                .await;
            return Err(WireError::Forbidden {
                message: format!(
                    "{subject} needs role {needed}; token {} has role {}",
                    record.name, record.role
                ),
            });
        }
        Ok(record.name.to_string())
    }
}

//! People, systems and unit contacts as stored: accounts, sessions, API keys, and the
//! contact details of each unit's digital-transformation office.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::auth::{Capability, Role, Scope};

/// A person's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Sign-in e-mail, lower-cased, unique.
    pub email: String,
    /// Name shown in the interface.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: Scope,
    /// Argon2id PHC string; `None` for accounts that sign in only through OpenID Connect.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// `issuer subject` of a linked OpenID Connect identity.
    pub oidc_subject: Option<String>,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// What is needed to create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// E-mail (will be lower-cased).
    pub email: String,
    /// Name shown.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Scope, consistent with the role.
    pub scope: Scope,
    /// Argon2id PHC string, if the account has a password.
    pub password_hash: Option<String>,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account.
    pub user_id: i64,
    /// The CSRF token every state-changing form of this session must carry.
    pub csrf: String,
    /// When it ends (Unix seconds).
    pub expires_at: i64,
}

/// An API key of a system, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Id (also the public part of the key).
    pub id: i64,
    /// Name, e.g. the portal it belongs to.
    pub name: String,
    /// The `source` values it may send.
    pub sources: BTreeSet<String>,
    /// What it may do.
    pub capabilities: BTreeSet<Capability>,
    /// SHA-256 of the secret, hex.
    #[serde(skip)]
    pub secret_hash: String,
    /// When created (RFC 3339).
    pub created_at: String,
    /// When last used (RFC 3339).
    pub last_used_at: Option<String>,
    /// When revoked (RFC 3339); a revoked key is refused.
    pub revoked_at: Option<String>,
}

/// What is needed to create an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// Name.
    pub name: String,
    /// Allowed `source` values.
    pub sources: BTreeSet<String>,
    /// Allowed capabilities.
    pub capabilities: BTreeSet<Capability>,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
}

/// Contact details of a unit's digital-transformation office (Sở KH&CN, focal point).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitContact {
    /// Office name.
    pub office: String,
    /// Person in charge.
    pub person: String,
    /// E-mail.
    pub email: String,
    /// Telephone.
    pub phone: String,
}

/// Whether `s` has the shape of an e-mail address: something, `@`, a domain with a dot.
/// Deliverability is not checked here.
pub fn looks_like_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

/// How sign-in failures slow down further attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before any delay.
    pub free_failures: u32,
    /// The first lock, in seconds; it doubles with each further failure.
    pub base_lock_secs: i64,
    /// The longest lock, in seconds.
    pub max_lock_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 5,
            base_lock_secs: 2,
            max_lock_secs: 15 * 60,
        }
    }
}

impl ThrottlePolicy {
    /// How long to lock after `failures` consecutive failures (0 = not locked).
    pub fn lock_secs(&self, failures: u32) -> i64 {
        if failures < self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(30);
        self.base_lock_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.max_lock_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_then_cap() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.lock_secs(4), 0);
        assert_eq!(p.lock_secs(5), 2);
        assert_eq!(p.lock_secs(6), 4);
        assert_eq!(p.lock_secs(10), 64);
        assert_eq!(p.lock_secs(40), 900);
    }
}

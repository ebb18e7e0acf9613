//! Who is calling: a browser session (cookie) or a system (bearer API key), resolved once
//! per request into a [`Caller`]; access is then decided by `dxhub_core::auth::authorize`
//! through [`Caller::require`], never by the handlers themselves.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use dxhub_core::accounts::User;
use dxhub_core::audit::{Change, now_text};
use dxhub_core::auth::{Action, Coverage, Decision, Principal, Role, Scope, authorize};
use dxhub_core::units::{UnitKey, UnitLevel};
use dxhub_store::Store;

use crate::AppState;
use crate::error::ApiError;
use crate::security::{constant_time_eq, parse_api_key, sha256_hex};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "dxhub_session";

/// The resolved caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The signed-in account, for sessions.
    pub user: Option<User>,
    /// The session's token hash and CSRF token, for sessions.
    pub session: Option<(String, String)>,
    /// The client's address.
    pub address: Option<String>,
}

impl Caller {
    /// Nobody.
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            user: None,
            session: None,
            address: None,
        }
    }

    /// Fails with 401 or 403 unless the principal may do `action`.
    pub fn require(&self, action: &Action<'_>) -> Result<(), ApiError> {
        match authorize(&self.principal, action) {
            Decision::Allow => Ok(()),
            Decision::NeedsSignIn => Err(ApiError::Unauthorized(
                "sign in (or send an API key as Authorization: Bearer) to do this".to_owned(),
            )),
            Decision::Deny => Err(ApiError::Forbidden(
                "your role or scope does not allow this".to_owned(),
            )),
        }
    }

    /// Who to name in the audit trail.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::User { id, email, .. } => format!("user:{id} {email}"),
            Principal::System { id, name, .. } => format!("key:{id} {name}"),
        }
    }

    /// An audit record of this caller doing `action` to `object`.
    pub fn change(&self, action: &str, object: impl Into<String>) -> Change {
        Change::new(self.actor(), action, object).from_address(self.address.clone())
    }

    /// Checks the CSRF token a form carried against the session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), ApiError> {
        match (&self.session, token) {
            (Some((_, expected)), Some(given)) if constant_time_eq(expected, given) => Ok(()),
            (None, _) => Err(ApiError::Unauthorized(
                "your session has ended; sign in again".to_owned(),
            )),
            _ => Err(ApiError::Forbidden(
                "the form's security token is missing or stale; reload the page and try again"
                    .to_owned(),
            )),
        }
    }
}

/// The value of cookie `name` in a request, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The province codes (of every map version) a province scope covers: the code itself and
/// every province reached through lineage from any version of it.
pub async fn coverage(store: &dyn Store, scope: &Scope) -> Result<Coverage, ApiError> {
    let Scope::Province(code) = scope else {
        return Ok(Coverage::default());
    };
    let mut provinces = BTreeSet::from([code.clone()]);
    for version in store.unit_versions(code, Some(UnitLevel::Province)).await? {
        let key: UnitKey = version.key();
        let lineage = store.lineage(&key).await?;
        for e in lineage.predecessors.iter().chain(&lineage.successors) {
            if e.unit.level == UnitLevel::Province {
                provinces.insert(e.unit.code.clone());
            }
        }
    }
    Ok(Coverage { provinces })
}

/// Builds the principal of a signed-in account.
pub async fn user_principal(store: &dyn Store, user: &User) -> Result<Principal, ApiError> {
    Ok(Principal::User {
        id: user.id,
        email: user.email.clone(),
        role: user.role,
        scope: user.scope.clone(),
        coverage: if user.role == Role::ProvinceOfficer {
            coverage(store, &user.scope).await?
        } else {
            Coverage::default()
        },
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let store = &*state.store;

        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let bad = || ApiError::Unauthorized("the API key is invalid or revoked".to_owned());
            let value = auth.to_str().map_err(|_| bad())?;
            let key = value.strip_prefix("Bearer ").ok_or_else(bad)?.trim();
            let (id, secret) = parse_api_key(key).ok_or_else(bad)?;
            let record = store.key(id).await?.ok_or_else(bad)?;
            if record.revoked_at.is_some()
                || !constant_time_eq(&sha256_hex(secret), &record.secret_hash)
            {
                return Err(bad());
            }
            store.touch_key(id, &now_text()).await?;
            return Ok(Caller {
                principal: Principal::System {
                    id,
                    name: record.name,
                    sources: record.sources,
                    capabilities: record.capabilities,
                },
                user: None,
                session: None,
                address,
            });
        }

        if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
            let token_hash = sha256_hex(token);
            let now = state.config.clock.now();
            if let Some((user, session)) = store.session(&token_hash, now).await? {
                let principal = user_principal(store, &user).await?;
                return Ok(Caller {
                    principal,
                    user: Some(user),
                    session: Some((token_hash, session.csrf)),
                    address,
                });
            }
        }
        Ok(Caller {
            principal: Principal::Anonymous,
            user: None,
            session: None,
            address,
        })
    }
}

//! Sign-in through an external OpenID Connect provider (such as the national e-ID): the
//! provider is discovered at start-up; each sign-in is an authorization-code flow with
//! PKCE, `state` and `nonce`, whose ID token is validated (signature, issuer, audience,
//! expiry, nonce, access-token hash) by the `openidconnect` crate. What a browser must carry
//! between the two legs stays here, keyed by a random id in a short-lived cookie.
//! Mapping the identity to an account is the pages' business (`pages/oidc.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::url::{Host, Url};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims, reqwest,
};

use crate::security::{constant_time_eq, random_token};

/// Where the provider sends the browser back to, under the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

/// How long a started sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// At most this many sign-ins may be under way at once; past it the oldest is dropped.
const MAX_PENDING: usize = 10_000;

/// Discovery is repeated (for rotated signing keys) at most this often.
const REDISCOVER_EVERY: Duration = Duration::from_secs(60);

/// Timeout of each request to the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// How a deployment reaches its OpenID Connect provider.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL (discovery reads `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// This service's client id at the provider.
    pub client_id: String,
    /// Its client secret (`None` for a public client, which then relies on PKCE alone).
    pub client_secret: Option<String>,
    /// The external base URL of dxhub, e.g. `https://dxhub.example.vn`; the redirect URI
    /// is this followed by [`CALLBACK_PATH`].
    pub public_url: String,
    /// Allow a plain-http issuer on a host other than loopback (tests and labs only).
    pub allow_http: bool,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(hidden)"),
            )
            .field("public_url", &self.public_url)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl OidcSettings {
    /// The redirect URI registered at the provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url.trim_end_matches('/'))
    }
}

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A setting is malformed or not allowed.
    #[error("{0}")]
    Config(String),
    /// Discovery failed.
    #[error("cannot discover the OpenID Connect provider {issuer}: {reason}")]
    Discovery {
        /// The issuer URL.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
}

/// What the provider appended to the redirect URI.
#[derive(Debug, Clone, Default)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the request, echoed.
    pub state: Option<String>,
    /// An error code instead of a code (e.g. `access_denied`).
    pub error: Option<String>,
    /// The error's description.
    pub error_description: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
}

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No sign-in was started from this browser, or it has expired.
    #[error("no sign-in is under way in this browser, or it took too long")]
    Unknown,
    /// `state` does not match the sign-in that was started.
    #[error("the answer does not belong to the sign-in started in this browser (state)")]
    StateMismatch,
    /// `iss` names another issuer (mix-up attack).
    #[error("the answer comes from another issuer: {0}")]
    IssuerMismatch(String),
    /// The provider answered with an error (the person may have cancelled).
    #[error("the identity provider answered {error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        /// The error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// No code in the answer.
    #[error("the answer carries no authorization code")]
    NoCode,
    /// Exchanging the code, or reading the account's claims, failed.
    #[error("the identity provider did not complete the sign-in: {0}")]
    Exchange(String),
    /// The ID token is missing or invalid.
    #[error("the identity token is invalid: {0}")]
    InvalidToken(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `issuer + " " + sub`: what an account is linked to.
    pub subject: String,
    /// The e-mail claim, lower-cased, if any.
    pub email: Option<String>,
    /// Whether the provider verified that e-mail.
    pub email_verified: bool,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One discovery's outcome.
struct Discovered {
    client: Client,
    issuer: String,
}

/// A started sign-in, waiting for the browser to come back.
struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    next: String,
    started: Instant,
}

/// The configured provider, and the sign-ins under way.
pub struct OidcClient {
    settings: OidcSettings,
    http: reqwest::Client,
    discovered: RwLock<Arc<Discovered>>,
    last_discovery: Mutex<Instant>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// Whether a URL's host is on this machine.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Refuses URLs that are neither https nor allowed plain http.
fn check_transport(what: &str, raw: &str, allow_http: bool) -> Result<(), OidcError> {
    let url = Url::parse(raw).map_err(|e| OidcError::Config(format!("{what} {raw:?}: {e}")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(&url) => Ok(()),
        "http" => Err(OidcError::Config(format!(
            "{what} {raw} uses plain http: only https is accepted, except on loopback \
             (127.0.0.1, ::1, localhost) or with --oidc-allow-http"
        ))),
        other => Err(OidcError::Config(format!(
            "{what} {raw}: unsupported scheme {other}"
        ))),
    }
}

impl OidcClient {
    /// Checks the settings and discovers the provider (its endpoints and signing keys).
    pub async fn discover(settings: OidcSettings) -> Result<OidcClient, OidcError> {
        if settings.client_id.trim().is_empty() {
            return Err(OidcError::Config(
                "the OpenID Connect client id is empty".into(),
            ));
        }
        check_transport(
            "the OpenID Connect issuer",
            &settings.issuer,
            settings.allow_http,
        )?;
        let redirect = settings.redirect_uri();
        let redirect_url = Url::parse(&redirect)
            .map_err(|e| OidcError::Config(format!("the public URL gives {redirect:?}: {e}")))?;
        if !matches!(redirect_url.scheme(), "http" | "https") {
            return Err(OidcError::Config(format!(
                "the public URL must be http or https, not {redirect}"
            )));
        }
        let http = reqwest::Client::builder()
            // Following redirects would open the client to server-side request forgery.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))?;
        let discovered = discover_once(&settings, &http).await?;
        Ok(OidcClient {
            settings,
            http,
            discovered: RwLock::new(Arc::new(discovered)),
            last_discovery: Mutex::new(Instant::now()),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// The issuer, as the provider names itself.
    pub fn issuer(&self) -> String {
        self.current().issuer.clone()
    }

    /// The redirect URI sent to the provider.
    pub fn redirect_uri(&self) -> String {
        self.settings.redirect_uri()
    }

    fn current(&self) -> Arc<Discovered> {
        self.discovered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts a sign-in that returns to `next` (a local path): returns the id to keep in
    /// the browser's cookie and the provider URL to send the browser to.
    pub fn begin(&self, next: String) -> (String, String) {
        let discovered = self.current();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = discovered
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let id = random_token(16);
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| now.duration_since(p.started) < PENDING_TTL);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            id.clone(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                next,
                started: now,
            },
        );
        (id, url.to_string())
    }

    /// Finishes the sign-in kept under `cookie_id` (each can be finished once): checks
    /// `state` and `iss`, exchanges the code with the PKCE verifier, validates the ID token
    /// against the nonce, and reads the e-mail claims (from the ID token, else from the
    /// userinfo endpoint). Returns who signed in and where to go next.
    pub async fn finish(
        &self,
        cookie_id: Option<&str>,
        params: &CallbackParams,
    ) -> Result<(Identity, String), CallbackError> {
        let pending = {
            let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            cookie_id.and_then(|id| map.remove(id))
        };
        let pending = pending
            .filter(|p| p.started.elapsed() < PENDING_TTL)
            .ok_or(CallbackError::Unknown)?;
        let state = params.state.as_deref().unwrap_or("");
        if !constant_time_eq(state, &pending.state) {
            return Err(CallbackError::StateMismatch);
        }
        let discovered = self.current();
        if let Some(iss) = &params.iss
            && iss != &discovered.issuer
        {
            return Err(CallbackError::IssuerMismatch(iss.clone()));
        }
        if let Some(error) = &params.error {
            return Err(CallbackError::Provider {
                error: error.clone(),
                description: params.error_description.clone(),
            });
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::NoCode)?;

        let tokens = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| CallbackError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| CallbackError::Exchange(describe_token_error(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| CallbackError::InvalidToken("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);

        // A signature that no known key verifies may mean the provider rotated its keys:
        // discover again (rate-limited) and retry once.
        let first = id_token
            .claims(&discovered.client.id_token_verifier(), &nonce)
            .cloned();
        let (claims, discovered) = match first {
            Ok(c) => (c, discovered),
            Err(ClaimsVerificationError::SignatureVerification(first)) => {
                let Some(fresh) = self.rediscover().await else {
                    return Err(CallbackError::InvalidToken(format!(
                        "signature verification failed: {first}"
                    )));
                };
                let c = id_token
                    .claims(&fresh.client.id_token_verifier(), &nonce)
                    .cloned()
                    .map_err(|e| CallbackError::InvalidToken(e.to_string()))?;
                (c, fresh)
            }
            Err(e) => return Err(CallbackError::InvalidToken(e.to_string())),
        };
        if let Some(expected) = claims.access_token_hash() {
            let signing_alg = id_token
                .signing_alg()
                .map_err(|e| CallbackError::InvalidToken(e.to_string()))?;
            let verifier = discovered.client.id_token_verifier();
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| CallbackError::InvalidToken(e.to_string()))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), signing_alg, key)
                .map_err(|e| CallbackError::InvalidToken(e.to_string()))?;
            if actual != *expected {
                return Err(CallbackError::InvalidToken(
                    "the access token does not match the ID token (at_hash)".into(),
                ));
            }
        }

        let sub = claims.subject().clone();
        let (mut email, mut verified) = (
            claims.email().map(|e| e.as_str().to_owned()),
            claims.email_verified().unwrap_or(false),
        );
        // Providers that follow the core specification strictly put the scope's claims
        // only at the userinfo endpoint when an access token is issued.
        let mut claims_from = "id_token";
        if email.is_none()
            && let Ok(request) = discovered
                .client
                .user_info(tokens.access_token().clone(), Some(sub.clone()))
        {
            let info: UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim> = request
                .request_async(&self.http)
                .await
                .map_err(|e| CallbackError::Exchange(format!("userinfo: {e}")))?;
            email = info.email().map(|e| e.as_str().to_owned());
            verified = info.email_verified().unwrap_or(false);
            claims_from = "userinfo";
        }
        tracing::info!(
            issuer = %discovered.issuer,
            sub = %sub.as_str(),
            email = ?email,
            email_verified = verified,
            claims_from,
            "OpenID Connect identity verified"
        );
        Ok((
            Identity {
                subject: format!("{} {}", discovered.issuer, sub.as_str()),
                email: email.map(|e| e.trim().to_lowercase()),
                email_verified: verified,
            },
            pending.next,
        ))
    }

    /// Discovers again unless that was done a moment ago; the new outcome, if any.
    async fn rediscover(&self) -> Option<Arc<Discovered>> {
        {
            let mut last = self
                .last_discovery
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < REDISCOVER_EVERY {
                return None;
            }
            *last = Instant::now();
        }
        match discover_once(&self.settings, &self.http).await {
            Ok(d) => {
                let d = Arc::new(d);
                *self.discovered.write().unwrap_or_else(|e| e.into_inner()) = d.clone();
                tracing::info!(issuer = %d.issuer, "OpenID Connect provider discovered again");
                Some(d)
            }
            Err(e) => {
                tracing::warn!(error = %e, "OpenID Connect discovery failed again");
                None
            }
        }
    }
}

async fn discover_once(
    settings: &OidcSettings,
    http: &reqwest::Client,
) -> Result<Discovered, OidcError> {
    let fail = |reason: String| OidcError::Discovery {
        issuer: settings.issuer.clone(),
        reason,
    };
    let issuer_url = IssuerUrl::new(settings.issuer.clone())
        .map_err(|e| OidcError::Config(format!("the issuer {:?}: {e}", settings.issuer)))?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, http)
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    let allow = settings.allow_http;
    check_transport(
        "the authorization endpoint",
        metadata.authorization_endpoint().as_str(),
        allow,
    )?;
    let token = metadata
        .token_endpoint()
        .ok_or_else(|| fail("the provider names no token endpoint".into()))?;
    check_transport("the token endpoint", token.as_str(), allow)?;
    check_transport("the key set", metadata.jwks_uri().as_str(), allow)?;
    if let Some(u) = metadata.userinfo_endpoint() {
        check_transport("the userinfo endpoint", u.as_str(), allow)?;
    }
    let issuer = metadata.issuer().as_str().to_owned();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        settings.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(
        RedirectUrl::new(settings.redirect_uri())
            .map_err(|e| OidcError::Config(format!("the redirect URI: {e}")))?,
    );
    Ok(Discovered { client, issuer })
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn describe_token_error<RE, T>(e: &openidconnect::RequestTokenError<RE, T>) -> String
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => format!("token endpoint: {r}"),
        other => error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_or_when_allowed() {
        for ok in [
            "https://id.example.vn",
            "http://127.0.0.1:4000",
            "http://127.8.0.1",
            "http://[::1]:9000/realm",
            "http://localhost:3000",
        ] {
            assert!(check_transport("issuer", ok, false).is_ok(), "{ok}");
        }
        let err = check_transport("issuer", "http://id.example.vn", false).unwrap_err();
        assert!(err.to_string().contains("--oidc-allow-http"), "{err}");
        assert!(check_transport("issuer", "http://id.example.vn", true).is_ok());
        assert!(check_transport("issuer", "ftp://id.example.vn", true).is_err());
        assert!(check_transport("issuer", "not a url", true).is_err());
    }

    #[test]
    fn redirect_uri_is_under_the_public_url() {
        let s = OidcSettings {
            issuer: "https://id.example.vn".into(),
            client_id: "dxhub".into(),
            client_secret: None,
            public_url: "https://dxhub.example.vn/".into(),
            allow_http: false,
        };
        assert_eq!(
            s.redirect_uri(),
            "https://dxhub.example.vn/auth/oidc/callback"
        );
    }
}

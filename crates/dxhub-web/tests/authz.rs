//! The access matrix: every write endpoint and protected page × every role and scope.
//! Allowed calls succeed and leave exactly one audit entry per change; refused calls get
//! 401 (anonymous; GET pages redirect to sign-in) or 403, and change nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use dxhub_core::accounts::{NewApiKey, NewUser, Session};
use dxhub_core::audit::{Change, verify_chain};
use dxhub_core::auth::{Capability, Role, Scope};
use dxhub_store::{AuditFilter, Store};
use dxhub_web::security::{format_api_key, hash_password, new_api_key_secret, sha256_hex};
use dxhub_web::{AppState, router};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    TeamLeader,
    Officer24,
    Officer01,
    MinistryBtc,
    Reviewer,
    Admin,
    System,
}

const EVERYONE: [Who; 8] = [
    Who::Anonymous,
    Who::TeamLeader,
    Who::Officer24,
    Who::Officer01,
    Who::MinistryBtc,
    Who::Reviewer,
    Who::Admin,
    Who::System,
];

/// How a caller authenticates in a request.
struct Credentials {
    cookie: Option<String>,
    bearer: Option<String>,
    csrf: String,
}

struct World {
    state: AppState,
    store: Arc<dyn Store>,
    creds: Vec<(Who, Credentials)>,
    key_id: i64,
    spare_id: i64,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = dxhub_db::open(&dxhub_db::sqlite_url_in(dir.path()))
        .await
        .unwrap();
    store
        .load_reference(&dxhub_reference::ReferenceData::embedded().unwrap())
        .await
        .unwrap();
    let hash = hash_password("mat-khau-thu-nghiem").unwrap();
    let mut creds = Vec::new();
    for (who, role, scope) in [
        (Who::TeamLeader, Role::TeamLeader, Scope::Team("T-1".into())),
        (
            Who::Officer24,
            Role::ProvinceOfficer,
            Scope::Province("24".into()),
        ),
        (
            Who::Officer01,
            Role::ProvinceOfficer,
            Scope::Province("01".into()),
        ),
        (
            Who::MinistryBtc,
            Role::MinistryOfficer,
            Scope::Ministry("BTC".into()),
        ),
        (Who::Reviewer, Role::Reviewer, Scope::National),
        (Who::Admin, Role::Admin, Scope::National),
    ] {
        let email = format!("{who:?}@test.vn").to_lowercase();
        let user = store
            .create_user(
                &NewUser {
                    email: email.clone(),
                    display_name: format!("{who:?}"),
                    role,
                    scope,
                    password_hash: Some(hash.clone()),
                },
                Change::new("test", "user.create", format!("user:{email}")),
            )
            .await
            .unwrap();
        let token = format!("token-{who:?}");
        let csrf = format!("csrf-{who:?}");
        store
            .create_session(
                &sha256_hex(&token),
                &Session {
                    user_id: user.id,
                    csrf: csrf.clone(),
                    expires_at: jiff::Timestamp::now().as_second() + 3600,
                },
                Change::new("test", "session.login", format!("user:{}", user.id)),
            )
            .await
            .unwrap();
        creds.push((
            who,
            Credentials {
                cookie: Some(format!("dxhub_session={token}")),
                bearer: None,
                csrf,
            },
        ));
    }
    // An account whose password the matrix resets (resetting ends that account's sessions).
    let spare = store
        .create_user(
            &NewUser {
                email: "spare@test.vn".into(),
                display_name: "Spare".into(),
                role: Role::Reviewer,
                scope: Scope::National,
                password_hash: Some(hash.clone()),
            },
            Change::new("test", "user.create", "user:spare@test.vn"),
        )
        .await
        .unwrap();
    let (secret, secret_hash) = new_api_key_secret();
    let key = store
        .create_key(
            &NewApiKey {
                name: "dvcqg".into(),
                sources: ["dvcqg".to_string()].into(),
                capabilities: [Capability::IngestDossiers].into(),
                secret_hash,
            },
            Change::new("test", "key.create", "key:dvcqg"),
        )
        .await
        .unwrap();
    creds.push((
        Who::System,
        Credentials {
            cookie: None,
            bearer: Some(format_api_key(key.id, &secret)),
            csrf: String::new(),
        },
    ));
    creds.push((
        Who::Anonymous,
        Credentials {
            cookie: None,
            bearer: None,
            csrf: String::new(),
        },
    ));
    World {
        state: AppState::new(store.clone()),
        store,
        creds,
        key_id: key.id,
        spare_id: spare.id,
        _dir: dir,
    }
}

impl World {
    async fn call(
        &self,
        who: Who,
        method: Method,
        uri: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let c = &self.creds.iter().find(|(w, _)| *w == who).unwrap().1;
        let mut req = Request::builder().method(method.clone()).uri(uri);
        if let Some(cookie) = &c.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(b) = &c.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let body = if method == Method::POST {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut s = form_urlencoded_pairs(form);
            if !c.csrf.is_empty() {
                s.push_str(&format!("&csrf={}", c.csrf));
            }
            Body::from(s)
        } else {
            Body::empty()
        };
        let resp = router(self.state.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let text = String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        (status, text, location)
    }

    async fn audit_len(&self) -> usize {
        self.store
            .audit_entries(&AuditFilter::default())
            .await
            .unwrap()
            .len()
    }
}

fn form_urlencoded_pairs(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('%', "%25")
                    .replace('&', "%26")
                    .replace(' ', "+")
                    .replace('@', "%40")
                    .replace(':', "%3A")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One row of the matrix.
struct Case {
    method: Method,
    uri: String,
    form: Vec<(&'static str, String)>,
    allowed: Vec<Who>,
    ok: StatusCode,
    /// Audit entries an allowed call writes.
    audited: usize,
}

fn get(uri: &str, allowed: &[Who]) -> Case {
    Case {
        method: Method::GET,
        uri: uri.into(),
        form: vec![],
        allowed: allowed.to_vec(),
        ok: StatusCode::OK,
        audited: 0,
    }
}

fn post(uri: &str, form: Vec<(&'static str, String)>, allowed: &[Who], ok: StatusCode) -> Case {
    Case {
        method: Method::POST,
        uri: uri.into(),
        form,
        allowed: allowed.to_vec(),
        ok,
        audited: 1,
    }
}

#[tokio::test]
async fn every_endpoint_times_every_role() {
    use Who::*;
    let w = world().await;
    let users = [
        TeamLeader,
        Officer24,
        Officer01,
        MinistryBtc,
        Reviewer,
        Admin,
    ];
    let contact = |p: &str| {
        vec![
            ("office", format!("Sở KH&CN {p}")),
            ("person", "Nguyễn Văn A".to_string()),
            ("email", "a@b.vn".to_string()),
            ("phone", "0222 3854 000".to_string()),
        ]
    };
    let cases = vec![
        get("/admin/users", &[Admin]),
        get("/admin/keys", &[Admin]),
        get("/admin/audit", &[Admin, Reviewer]),
        get("/admin/audit.csv", &[Admin, Reviewer]),
        get("/account/password", &users),
        get("/manage/units/24", &[Officer24, Reviewer, Admin]),
        get("/manage/units/27", &[Officer24, Reviewer, Admin]),
        get("/manage/units/00004", &[Officer01, Reviewer, Admin]),
        get("/manage/units/BTC", &[MinistryBtc, Reviewer, Admin]),
        post(
            "/manage/units/24/contact",
            contact("24"),
            &[Officer24, Admin],
            StatusCode::OK,
        ),
        post(
            "/manage/units/27/contact",
            contact("27"),
            &[Officer24, Admin],
            StatusCode::OK,
        ),
        post(
            "/manage/units/BTC/contact",
            contact("BTC"),
            &[MinistryBtc, Admin],
            StatusCode::OK,
        ),
        post(
            "/admin/users",
            vec![
                ("email", "new@test.vn".into()),
                ("name", "Người mới".into()),
                ("role", "reviewer".into()),
                ("scope", String::new()),
                ("password", "mot-mat-khau-dai".into()),
            ],
            &[Admin],
            StatusCode::CREATED,
        ),
        post(
            &format!("/admin/users/{}/password", w.spare_id),
            vec![],
            &[Admin],
            StatusCode::OK,
        ),
        post(
            "/admin/keys",
            vec![
                ("name", "hcc-79".into()),
                ("sources", "hcc-79".into()),
                ("can", "ingest:dossiers".into()),
            ],
            &[Admin],
            StatusCode::CREATED,
        ),
        // The key created just above (the test system's own key stays valid).
        post(
            &format!("/admin/keys/{}/revoke", w.key_id + 1),
            vec![],
            &[Admin],
            StatusCode::OK,
        ),
    ];
    for case in &cases {
        for who in EVERYONE {
            let before = w.audit_len().await;
            let form: Vec<(&str, &str)> = case.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body, location) = w.call(who, case.method.clone(), &case.uri, &form).await;
            let after = w.audit_len().await;
            let label = format!("{} {} as {who:?}", case.method, case.uri);
            if case.allowed.contains(&who) {
                assert_eq!(status, case.ok, "{label}: {body}");
                assert_eq!(
                    after - before,
                    case.audited,
                    "{label}: audit entries written"
                );
            } else {
                match who {
                    Anonymous if case.method == Method::GET => {
                        assert_eq!(status, StatusCode::SEE_OTHER, "{label}");
                        assert!(location.unwrap().starts_with("/login?next="), "{label}");
                    }
                    Anonymous => assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}"),
                    _ => assert_eq!(status, StatusCode::FORBIDDEN, "{label}: {body}"),
                }
                assert_eq!(after, before, "{label}: a refused call must change nothing");
            }
        }
    }
    // The refused writes really changed nothing.
    assert!(
        w.store
            .user_by_email("new@test.vn")
            .await
            .unwrap()
            .is_some(),
        "the admin's create went through"
    );
    assert_eq!(w.store.users().await.unwrap().len(), 8);
    assert_eq!(w.store.keys().await.unwrap().len(), 2);
    let entries = w
        .store
        .audit_entries(&AuditFilter {
            action: Some("unit_contact.update".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 6, "two allowed writers × three contacts");
    assert!(
        entries
            .iter()
            .all(|e| e.actor.starts_with("user:") && e.new.is_some())
    );
    let (chain, head) = w.store.audit_chain().await.unwrap();
    verify_chain(&chain, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
}

#[tokio::test]
async fn admin_reset_and_revoke_are_audited_and_refused_for_others() {
    use Who::*;
    let w = world().await;
    let officer = w
        .store
        .user_by_email("officer24@test.vn")
        .await
        .unwrap()
        .unwrap();
    for who in [TeamLeader, Officer24, Reviewer, System] {
        let (s, _, _) = w
            .call(
                who,
                Method::POST,
                &format!("/admin/users/{}/password", officer.id),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who:?}");
        let (s, _, _) = w
            .call(
                who,
                Method::POST,
                &format!("/admin/keys/{}/revoke", w.key_id),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who:?}");
    }
    assert!(
        w.store
            .key(w.key_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let (s, body, _) = w
        .call(
            Admin,
            Method::POST,
            &format!("/admin/users/{}/password", officer.id),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("officer24@test.vn"));
    // The reset ended the officer's session.
    let (s, _, loc) = w
        .call(Officer24, Method::GET, "/manage/units/24", &[])
        .await;
    assert_eq!(
        (s, loc.as_deref().map(|l| l.starts_with("/login"))),
        (StatusCode::SEE_OTHER, Some(true))
    );
    let (s, _, _) = w
        .call(
            Admin,
            Method::POST,
            &format!("/admin/keys/{}/revoke", w.key_id),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        w.store
            .key(w.key_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // A revoked key is refused.
    let (s, _, _) = w.call(System, Method::GET, "/manage/units/24", &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let actions: Vec<String> = w
        .store
        .audit_entries(&AuditFilter {
            actor: Some("user:".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"user.password_reset".to_string())
            && actions.contains(&"key.revoke".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let w = world().await;
    let c = &w
        .creds
        .iter()
        .find(|(who, _)| *who == Who::Admin)
        .unwrap()
        .1;
    for token in ["", "&csrf=wrong"] {
        let before = w.audit_len().await;
        let req = Request::post("/manage/units/24/contact")
            .header(header::COOKIE, c.cookie.clone().unwrap())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "office=x&person=y&email=a%40b.vn&phone=1{token}"
            )))
            .unwrap();
        let resp = router(w.state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(w.audit_len().await, before);
    }
}

#[tokio::test]
async fn bad_contact_fields_are_named_and_nothing_is_saved() {
    let w = world().await;
    let (s, body, _) = w
        .call(
            Who::Admin,
            Method::POST,
            "/manage/units/24/contact",
            &[("email", "not-an-email"), ("phone", "12")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("field &#39;email&#39;") || body.contains("field 'email'"),
        "{body}"
    );
    assert!(
        w.store
            .unit_contact(&dxhub_core::units::UnitKey {
                level: dxhub_core::units::UnitLevel::Province,
                code: "24".into(),
                valid_from: dxhub_core::units::REORG_2025,
            })
            .await
            .unwrap()
            .is_none()
    );
}

//! Signing in through the real form: the double-submit CSRF token, sessions, sign-out, and
//! throttling: ten wrong passwords in a row lock the next attempt; a right one works later.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dxhub_core::accounts::{NewUser, ThrottlePolicy};
use dxhub_core::audit::Change;
use dxhub_core::auth::{Role, Scope};
use dxhub_store::AuditFilter;
use dxhub_web::clock::Clock;
use dxhub_web::{AppState, WebConfig, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Page {
    status: StatusCode,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

async fn send(state: &AppState, req: Request<Body>) -> Page {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    Page {
        status,
        cookies,
        location,
        body,
    }
}

fn cookie_pair(page: &Page, name: &str) -> Option<String> {
    page.cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn hidden(body: &str, name: &str) -> String {
    let at = body
        .find(&format!("name=\"{name}\" value=\""))
        .expect("hidden field");
    let rest = &body[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// GETs the sign-in page and POSTs the form with the token it carries.
async fn sign_in(state: &AppState, email: &str, password: &str) -> Page {
    let form = send(
        state,
        Request::get("/login?next=/manage/units/24")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let token = hidden(&form.body, "csrf");
    let cookie = cookie_pair(&form, "dxhub_login_csrf").unwrap();
    let body = format!(
        "csrf={token}&next=%2Fmanage%2Funits%2F24&email={}&password={password}",
        email.replace('@', "%40")
    );
    send(
        state,
        Request::post("/login")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

async fn state(policy: ThrottlePolicy) -> (AppState, tempfile::TempDir) {
    let (store, dir) = common::store_with_reference().await;
    store
        .create_user(
            &NewUser {
                email: "can.bo@bacninh.gov.vn".into(),
                display_name: "Cán bộ Bắc Ninh".into(),
                role: Role::ProvinceOfficer,
                scope: Scope::Province("24".into()),
                password_hash: Some(
                    dxhub_web::security::hash_password("dung-mat-khau-roi").unwrap(),
                ),
            },
            Change::new("test", "user.create", "user:can.bo@bacninh.gov.vn"),
        )
        .await
        .unwrap();
    let config = WebConfig {
        throttle: policy,
        // Time moves only when a test moves it: a slow machine cannot outwait a lock.
        clock: Clock::manual(1_800_000_000),
        ..WebConfig::default()
    };
    (AppState::with_config(store, config), dir)
}

#[tokio::test]
async fn sign_in_session_and_sign_out() {
    let (state, _dir) = state(ThrottlePolicy::default()).await;
    let ok = sign_in(&state, "Can.Bo@BacNinh.gov.vn", "dung-mat-khau-roi").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(
        ok.location.as_deref(),
        Some("/manage/units/24"),
        "back to where the visitor was going"
    );
    let session = ok
        .cookies
        .iter()
        .find(|c| c.starts_with("dxhub_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let cookie = cookie_pair(&ok, "dxhub_session").unwrap();

    let page = send(
        &state,
        Request::get("/manage/units/24")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Cán bộ Bắc Ninh") && page.body.contains("Cán bộ tỉnh"),
        "header names the person and role"
    );
    assert!(
        page.body.contains("Đơn vị của tôi") && !page.body.contains("/admin/users"),
        "navigation follows the role"
    );

    let csrf = hidden(&page.body, "csrf");
    let out = send(
        &state,
        Request::post("/logout")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = send(
        &state,
        Request::get("/manage/units/24")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session is gone");
    let actions: Vec<String> = state
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.starts_with(&["session.logout".to_string(), "session.login".to_string()]),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_forged_or_missing_form_token_is_refused() {
    let (state, _dir) = state(ThrottlePolicy::default()).await;
    let page = send(
        &state,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "csrf=abc&email=can.bo%40bacninh.gov.vn&password=dung-mat-khau-roi",
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(cookie_pair(&page, "dxhub_session").is_none());
}

#[tokio::test]
async fn ten_wrong_passwords_slow_the_next_attempt_and_a_right_one_works_later() {
    let policy = ThrottlePolicy {
        free_failures: 5,
        base_lock_secs: 1,
        max_lock_secs: 2,
    };
    let (state, _dir) = state(policy).await;
    let mut statuses = Vec::new();
    let mut failures = 0;
    while failures < 10 {
        let p = sign_in(&state, "can.bo@bacninh.gov.vn", "sai-mat-khau-roi").await;
        statuses.push(p.status);
        match p.status {
            StatusCode::UNAUTHORIZED => failures += 1,
            // Locked: wait it out so that ten real failures are counted.
            StatusCode::TOO_MANY_REQUESTS => state.config.clock.advance(2),
            other => panic!("unexpected {other}: {}", p.body),
        }
    }
    assert!(
        statuses[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(
        statuses[5],
        StatusCode::TOO_MANY_REQUESTS,
        "the sixth attempt is slowed down: {statuses:?}"
    );
    // Right after the tenth failure even the right password must wait.
    let locked = sign_in(&state, "can.bo@bacninh.gov.vn", "dung-mat-khau-roi").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.body.contains("Thử lại sau"));
    assert!(cookie_pair(&locked, "dxhub_session").is_none());
    // One second on, still locked; once the lock has run out the right password works and
    // clears the count.
    state.config.clock.advance(1);
    let still = sign_in(&state, "can.bo@bacninh.gov.vn", "dung-mat-khau-roi").await;
    assert_eq!(
        still.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        still.body
    );
    state.config.clock.advance(1);
    let ok = sign_in(&state, "can.bo@bacninh.gov.vn", "dung-mat-khau-roi").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(cookie_pair(&ok, "dxhub_session").is_some());
    let failures = state
        .store
        .audit_entries(&AuditFilter {
            action: Some("session.login_failed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        failures.len() >= 10,
        "every failure is audited: {}",
        failures.len()
    );
}

//! The access matrix: every write endpoint and protected page × every role and scope.
//! Allowed calls succeed and leave exactly one audit entry per change; refused calls get
//! 401 (anonymous; GET pages redirect to sign-in) or 403, and change nothing.

mod common;

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
    let (store, dir) = common::store_with_reference().await;
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
        let body = if method == Method::POST {
            let mut s = form_urlencoded_pairs(form);
            if !c.csrf.is_empty() {
                s.push_str(&format!("&csrf={}", c.csrf));
            }
            Some((
                "application/x-www-form-urlencoded".to_owned(),
                s.into_bytes(),
            ))
        } else {
            None
        };
        let (status, bytes, location) = self.call_raw(who, method, uri, body).await;
        (
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            location,
        )
    }

    /// A request with any body (e.g. multipart), as `who`.
    async fn call_raw(
        &self,
        who: Who,
        method: Method,
        uri: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> (StatusCode, Vec<u8>, Option<String>) {
        let c = &self.creds.iter().find(|(w, _)| *w == who).unwrap().1;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &c.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(b) = &c.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
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
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes, location)
    }

    fn csrf(&self, who: Who) -> String {
        self.creds
            .iter()
            .find(|(w, _)| *w == who)
            .unwrap()
            .1
            .csrf
            .clone()
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

const REPORT_24: &str = "/reports/dti-province-2025/2025/24";
const MAIN_2025: [&str; 8] = [
    "nhan_thuc_so",
    "the_che_so",
    "ha_tang_so",
    "nhan_luc_so",
    "an_toan_thong_tin_mang",
    "hd_chinh_quyen_so",
    "hd_kinh_te_so",
    "hd_xa_hoi_so",
];

fn all_values(v: &str) -> Vec<(&'static str, String)> {
    MAIN_2025
        .iter()
        .map(|c| {
            (
                &*Box::leak(format!("value:{c}").into_boxed_str()),
                v.to_owned(),
            )
        })
        .collect()
}

fn step(step: &str, expected: &str) -> Vec<(&'static str, String)> {
    vec![("step", step.into()), ("expected", expected.into())]
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
        // Reports: the unit fills in, a reviewer verifies, someone else approves.
        get(
            "/reports",
            &[Officer24, Officer01, MinistryBtc, Reviewer, Admin],
        ),
        get(REPORT_24, &[Officer24, Reviewer, Admin]),
        get(
            &format!("{REPORT_24}/template.xlsx"),
            &[Officer24, Reviewer, Admin],
        ),
        Case {
            // The first save also opens the report: two audit entries.
            audited: 2,
            ..post(
                &format!("{REPORT_24}/values"),
                all_values("0.8"),
                &[Officer24],
                StatusCode::OK,
            )
        },
        post(
            &format!("{REPORT_24}/step"),
            step("submit", "draft"),
            &[Officer24],
            StatusCode::OK,
        ),
        post(
            &format!("{REPORT_24}/step"),
            step("verify", "submitted"),
            &[Reviewer],
            StatusCode::OK,
        ),
        // The reviewer who verified may not approve: the administrator does.
        post(
            &format!("{REPORT_24}/step"),
            step("approve", "verified"),
            &[Admin],
            StatusCode::OK,
        ),
        get("/admin/methodologies", &[Reviewer, Admin]),
        get("/admin/methodologies/dti-province-2022", &[Reviewer, Admin]),
        get("/rankings/live/dti-province-2025/2025", &[Reviewer, Admin]),
        post(
            "/rankings/live/dti-province-2025/2025/publish",
            vec![
                ("title_vi", "DTI 2025 thử".into()),
                ("title_en", "DTI 2025 test".into()),
            ],
            &[Admin],
            StatusCode::SEE_OTHER,
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

/// A multipart/form-data body with text fields and one file.
fn multipart(fields: &[(&str, &str)], file: (&str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "dxhubTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file.0
        )
        .as_bytes(),
    );
    body.extend_from_slice(file.1);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A filled-in template as a unit would send it: the information sheet names the report,
/// the values sheet holds `rows` (code, value cell).
fn filled_template(unit: &str, rows: &[(&str, Option<&str>, Option<f64>)]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Giá trị").unwrap();
    for (c, h) in ["Mã", "Chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú"]
        .iter()
        .enumerate()
    {
        ws.write(0, c as u16, *h).unwrap();
    }
    for (i, (code, text, number)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write(r, 0, *code).unwrap();
        if let Some(t) = text {
            ws.write(r, 3, *t).unwrap();
        }
        if let Some(n) = number {
            ws.write(r, 3, *n).unwrap();
        }
    }
    let info = wb.add_worksheet();
    info.set_name("Thông tin").unwrap();
    for (r, v) in ["dti-province-2025", "1", "2025", unit].iter().enumerate() {
        info.write(r as u32, 0, "x").unwrap();
        info.write(r as u32, 1, *v).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

fn score_of(page: &str, unit_name: &str) -> String {
    // The table row of the unit: the score is the first `d.dddd` after its name.
    let at = page
        .find(unit_name)
        .unwrap_or_else(|| panic!("{unit_name} not on the page"));
    let b = &page.as_bytes()[at..];
    let start = (0..b.len().saturating_sub(6))
        .find(|&i| {
            b[i].is_ascii_digit()
                && b[i + 1] == b'.'
                && b[i + 2..i + 6].iter().all(u8::is_ascii_digit)
        })
        .unwrap();
    String::from_utf8(b[start..start + 6].to_vec()).unwrap()
}

#[tokio::test]
async fn reports_from_form_xlsx_and_evidence_to_a_frozen_edition() {
    use Who::*;
    let w = world().await;
    let r24 = REPORT_24;
    let r01 = "/reports/dti-province-2025/2025/01";
    let key24 = dxhub_core::reports::ReportKey {
        methodology: "dti-province-2025".into(),
        period: "2025".into(),
        level: dxhub_core::units::UnitLevel::Province,
        unit: "24".into(),
    };

    // Bad values are named by field and nothing is stored.
    let (status, body, _) = w
        .call(
            Officer24,
            Method::POST,
            &format!("{r24}/values"),
            &[
                ("value:nhan_thuc_so", "abc"),
                ("value:the_che_so", "1.5"),
                ("value:khong_co", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for field in ["value:nhan_thuc_so", "value:the_che_so", "value:khong_co"] {
        assert!(body.contains(field), "{field} named in: {body}");
    }
    assert!(w.store.current_report(&key24).await.unwrap().is_none());

    // Values as people type them: a percentage and a decimal comma.
    let mut form: Vec<(String, String)> = MAIN_2025
        .iter()
        .map(|c| (format!("value:{c}"), "0,8".to_string()))
        .collect();
    form[0].1 = "80%".into();
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body, _) = w
        .call(Officer24, Method::POST, &format!("{r24}/values"), &form_ref)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = w.store.current_report(&key24).await.unwrap().unwrap();
    let values = w.store.report_values(report.id).await.unwrap();
    assert_eq!(values.len(), 8);
    assert!(
        values.iter().all(|v| (v.value - 0.8).abs() < 1e-12),
        "{values:?}"
    );

    // Province 01 fills in by XLSX: the template downloads, a bad cell is located, a good
    // file is applied.
    let (status, bytes, _) = w
        .call_raw(
            Officer01,
            Method::GET,
            &format!("{r01}/template.xlsx"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range("Giá trị").unwrap();
        assert_eq!(range.get_value((0, 0)).unwrap().to_string(), "Mã");
        assert_eq!(range.get_value((1, 0)).unwrap().to_string(), "nhan_thuc_so");
    }
    let csrf01 = w.csrf(Officer01);
    let mut rows: Vec<(&str, Option<&str>, Option<f64>)> =
        MAIN_2025.iter().map(|c| (*c, None, Some(0.6))).collect();
    rows[2] = ("ha_tang_so", Some("nhiều"), None);
    let (ct, body) = multipart(
        &[("csrf", &csrf01)],
        ("dti.xlsx", &filled_template("01", &rows)),
    );
    let (status, page, _) = w
        .call_raw(
            Officer01,
            Method::POST,
            &format!("{r01}/xlsx"),
            Some((ct, body)),
        )
        .await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("sheet &#39;Giá trị&#39;, row 4, column D")
            || page.contains("sheet 'Giá trị', row 4, column D"),
        "{page}"
    );
    // A file made for another unit is refused.
    rows[2] = ("ha_tang_so", None, Some(0.6));
    let (ct, body) = multipart(
        &[("csrf", &csrf01)],
        ("dti.xlsx", &filled_template("24", &rows)),
    );
    let (status, _, _) = w
        .call_raw(
            Officer01,
            Method::POST,
            &format!("{r01}/xlsx"),
            Some((ct, body)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (ct, body) = multipart(
        &[("csrf", &csrf01)],
        ("dti.xlsx", &filled_template("01", &rows)),
    );
    let (status, page, _) = w
        .call_raw(
            Officer01,
            Method::POST,
            &format!("{r01}/xlsx"),
            Some((ct, body)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&page));

    // Evidence: checked by content, stored with its checksum, visible to whom may see it.
    let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n".to_vec();
    let (ct, body) = multipart(
        &[("csrf", &csrf01), ("element", "nhan_thuc_so")],
        ("Quyết định.pdf", &pdf),
    );
    let (status, _, _) = w
        .call_raw(
            Officer01,
            Method::POST,
            &format!("{r01}/evidence"),
            Some((ct, body)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Nobody else may attach files or upload values to province 01's report.
    for who in [Officer24, Reviewer, Admin, MinistryBtc] {
        let csrf = w.csrf(who);
        for (what, file) in [("evidence", "qd.pdf"), ("xlsx", "dti.xlsx")] {
            let (ct, body) = multipart(&[("csrf", &csrf)], (file, &pdf));
            let (s, _, _) = w
                .call_raw(
                    who,
                    Method::POST,
                    &format!("{r01}/{what}"),
                    Some((ct, body)),
                )
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who:?} {what}");
        }
    }
    let (ct, body) = multipart(&[("csrf", &csrf01)], ("fake.pdf", b"MZ\x90\x00binary"));
    let (status, _, _) = w
        .call_raw(
            Officer01,
            Method::POST,
            &format!("{r01}/evidence"),
            Some((ct, body)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let key01 = dxhub_core::reports::ReportKey {
        unit: "01".into(),
        ..key24.clone()
    };
    let r01_id = w.store.current_report(&key01).await.unwrap().unwrap().id;
    let files = w.store.evidence(r01_id).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].sha256, dxhub_core::reports::sha256_hex(&pdf));
    let ev = format!("/evidence/{}", files[0].id);
    assert_eq!(
        w.call_raw(Officer24, Method::GET, &ev, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, got, _) = w.call_raw(Reviewer, Method::GET, &ev, None).await;
    assert_eq!((status, got), (StatusCode::OK, pdf));

    // The workflow: nobody skips a step, and the verifier does not approve.
    for (r, officer) in [(r24, Officer24), (r01, Officer01)] {
        let (s, b, _) = w
            .call(
                Reviewer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "verify"), ("expected", "draft")],
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "verify a draft: {b}");
        let (s, b, _) = w
            .call(
                officer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "submit"), ("expected", "draft")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _, _) = w
            .call(
                officer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "verify"), ("expected", "submitted")],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "an officer cannot verify");
        let (s, _, _) = w
            .call(
                officer,
                Method::POST,
                &format!("{r}/values"),
                &[("value:nhan_thuc_so", "0.1")],
            )
            .await;
        assert_eq!(
            s,
            StatusCode::CONFLICT,
            "a submitted report is not editable"
        );
        let (s, b, _) = w
            .call(
                Reviewer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "verify"), ("expected", "submitted")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _, _) = w
            .call(
                officer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "approve"), ("expected", "verified")],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "an officer cannot approve");
        let (s, _, _) = w
            .call(
                Reviewer,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "approve"), ("expected", "verified")],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the verifier cannot approve");
        let (s, b, _) = w
            .call(
                Admin,
                Method::POST,
                &format!("{r}/step"),
                &[("step", "approve"), ("expected", "verified")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // Approved values are locked for everyone.
    let (s, _, _) = w
        .call(
            Officer24,
            Method::POST,
            &format!("{r24}/values"),
            &[("value:nhan_thuc_so", "0.1")],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, _) = w
        .call(
            Reviewer,
            Method::POST,
            &format!("{r24}/values"),
            &[("value:nhan_thuc_so", "0.1")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = w
        .call(
            Officer01,
            Method::POST,
            &format!("{r01}/evidence/1/delete"),
            &[],
        )
        .await;
    assert_ne!(s, StatusCode::OK);
    let values_after = w.store.report_values(report.id).await.unwrap();
    assert_eq!(values_after, values, "approved values unchanged");

    // Publish: 24 scores 0.8000 (all main values 0.8), 01 scores 0.6000.
    let (s, _, location) = w
        .call(
            Admin,
            Method::POST,
            "/rankings/live/dti-province-2025/2025/publish",
            &[("title_vi", "DTI 2025"), ("title_en", "DTI 2025")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let edition = location.unwrap();
    let (s, page, _) = w.call(Who::Anonymous, Method::GET, &edition, &[]).await;
    assert_eq!(s, StatusCode::OK, "an edition is public");
    assert_eq!(score_of(&page, "Bắc Ninh"), "0.8000");
    assert_eq!(score_of(&page, "Hà Nội"), "0.6000");
    let (_, csv_before, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}/csv?tab=table"),
            &[],
        )
        .await;
    assert!(
        csv_before.starts_with("rank,unit_code,unit_name,score,nhan_thuc_so"),
        "{csv_before}"
    );

    // A correction: reopened as revision 2, changed, approved again.
    let (s, b, _) = w
        .call(
            Reviewer,
            Method::POST,
            &format!("{r24}/reopen"),
            &[("reason", "sai số liệu hạ tầng")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b, _) = w
        .call(
            Officer24,
            Method::POST,
            &format!("{r24}/values"),
            &[("value:nhan_thuc_so", "0.5")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (who, st, exp) in [
        (Officer24, "submit", "draft"),
        (Reviewer, "verify", "submitted"),
        (Admin, "approve", "verified"),
    ] {
        let (s, b, _) = w
            .call(
                who,
                Method::POST,
                &format!("{r24}/step"),
                &[("step", st), ("expected", exp)],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{st}: {b}");
    }
    let revisions = w.store.report_revisions(&key24).await.unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(
        w.store.report_values(revisions[0].id).await.unwrap(),
        values,
        "revision 1 kept"
    );
    // A new computation shows the correction: 0.8 − 0.3 × 100 / 1000.
    let (_, live, _) = w
        .call(
            Reviewer,
            Method::GET,
            "/rankings/live/dti-province-2025/2025",
            &[],
        )
        .await;
    assert_eq!(score_of(&live, "Bắc Ninh"), "0.7700");
    // The edition renders the same numbers as before.
    let (_, page_after, _) = w.call(Who::Anonymous, Method::GET, &edition, &[]).await;
    assert_eq!(score_of(&page_after, "Bắc Ninh"), "0.8000");
    let (_, csv_after, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}/csv?tab=table"),
            &[],
        )
        .await;
    assert_eq!(csv_after, csv_before);

    // The table as Excel: numbers stay numbers.
    let (s, bytes, _) = w
        .call_raw(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}/xlsx?tab=table"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range("table").unwrap();
        assert_eq!(range.get_value((2, 0)).unwrap().to_string(), "rank");
        let row = (3..range.height() as u32)
            .find(|r| range.get_value((*r, 1)).map(|c| c.to_string()) == Some("24".into()))
            .unwrap();
        assert_eq!(range.get_value((row, 3)), Some(&calamine::Data::Float(0.8)));
        assert_eq!(range.get_value((row, 0)), Some(&calamine::Data::Float(1.0)));
    }

    // The same edition as JSON for scripts.
    let id = edition.rsplit('/').next().unwrap();
    let (s, list, _) = w
        .call(Who::Anonymous, Method::GET, "/api/v1/editions", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"].as_i64() == id.parse::<i64>().ok()),
        "{list}"
    );
    let (s, doc, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/editions/{id}"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let row = doc["payload"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "24")
        .unwrap()
        .clone();
    assert_eq!(row["rank"], 1);
    assert!(
        (row["score"].as_f64().unwrap() - 0.8).abs() < 1e-12,
        "{row}"
    );
    assert_eq!(
        row["provenance"]["nhan_thuc_so"][0]["kind"], "reported",
        "{row}"
    );
    assert_eq!(
        w.call(Who::Anonymous, Method::GET, "/api/v1/editions/abc", &[])
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        w.call(Who::Anonymous, Method::GET, "/api/v1/editions/999", &[])
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The other views of the edition, the profile and the what-if page.
    for tab in ["map", "years"] {
        let (s, body, _) = w
            .call(
                Who::Anonymous,
                Method::GET,
                &format!("{edition}?tab={tab}"),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{tab}: {body}");
        let (s, csv, _) = w
            .call(
                Who::Anonymous,
                Method::GET,
                &format!("{edition}/csv?tab={tab}"),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(csv.contains("24,"), "{tab}: {csv}");
    }
    let (s, body, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}?tab=chart"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("tab"), "{body}");
    let (s, profile, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}/units/24"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        profile.contains("0.8000") && profile.contains("0.7000"),
        "score and median: {profile}"
    );
    let id = edition.rsplit('/').next().unwrap();
    // Bắc Ninh's awareness value at 0: 0.8 − 0.8 × 100 / 1000 = 0.7200; nothing stored.
    let before = w.audit_len().await;
    let (s, page, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/what-if?edition={id}&unit=24&v.nhan_thuc_so=0"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(score_of(&page, "<td>Tỉnh Bắc Ninh"), "0.7200");
    assert_eq!(w.audit_len().await, before);
    let (s, page, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/what-if?edition={id}&unit=24&v.nhan_thuc_so=2"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("v.nhan_thuc_so"), "{page}");

    // The other views of the edition, the profile and the what-if page.
    for tab in ["map", "years"] {
        let (s, body, _) = w
            .call(
                Who::Anonymous,
                Method::GET,
                &format!("{edition}?tab={tab}"),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{tab}: {body}");
        let (s, csv, _) = w
            .call(
                Who::Anonymous,
                Method::GET,
                &format!("{edition}/csv?tab={tab}"),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(csv.contains("24,"), "{tab}: {csv}");
    }
    let (s, body, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}?tab=chart"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("tab"), "{body}");
    let (s, profile, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("{edition}/units/24"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        profile.contains("0.8000") && profile.contains("0.7000"),
        "score and median: {profile}"
    );
    let id = edition.rsplit('/').next().unwrap();
    // Bắc Ninh's awareness value at 0: 0.8 − 0.8 × 100 / 1000 = 0.7200; nothing stored.
    let before = w.audit_len().await;
    let (s, page, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/what-if?edition={id}&unit=24&v.nhan_thuc_so=0"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(score_of(&page, "<td>Tỉnh Bắc Ninh"), "0.7200");
    assert_eq!(w.audit_len().await, before);
    let (s, page, _) = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/what-if?edition={id}&unit=24&v.nhan_thuc_so=2"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("v.nhan_thuc_so"), "{page}");

    let (chain, head) = w.store.audit_chain().await.unwrap();
    verify_chain(&chain, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
}

/// The admin forms name each bad field, answer 422 and create nothing.
#[tokio::test]
async fn bad_admin_user_and_key_fields_are_named_and_nothing_is_created() {
    use Who::*;
    let w = world().await;
    let users_before = w.store.users().await.unwrap().len();
    let good = [
        ("email", "moi@test.vn"),
        ("name", "Người mới"),
        ("role", "province_officer"),
        ("scope", "24"),
        ("password", "mot-mat-khau-dai"),
    ];
    for (field, bad, named) in [
        ("email", "khong-phai-email", "e-mail"),
        ("role", "superuser", "role"),
        ("scope", "99", "scope"),
        ("scope", "", "scope"),
        ("scope", "BTC", "scope"),
        ("password", "ngan", "password"),
    ] {
        let form: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| (*k, if *k == field { bad } else { *v }))
            .collect();
        let before = w.audit_len().await;
        let (s, body, _) = w.call(Admin, Method::POST, "/admin/users", &form).await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={bad:?}: {body}"
        );
        assert!(
            body.contains(&format!("{named}:")),
            "{field}={bad:?} not named: {body}"
        );
        assert_eq!(
            w.audit_len().await,
            before,
            "{field}={bad:?} wrote to the audit trail"
        );
    }
    assert_eq!(w.store.users().await.unwrap().len(), users_before);

    let keys_before = w.store.keys().await.unwrap().len();
    for (form, named) in [
        (
            vec![
                ("name", ""),
                ("sources", "dvcqg"),
                ("can", "ingest:dossiers"),
            ],
            "name",
        ),
        (
            vec![
                ("name", "k"),
                ("sources", " , "),
                ("can", "ingest:dossiers"),
            ],
            "sources",
        ),
        (
            vec![
                ("name", "k"),
                ("sources", "nguon-qua-dai-nguon-qua-dai-nguon-qua-dai"),
                ("can", "ingest:dossiers"),
            ],
            "sources",
        ),
        (
            vec![
                ("name", "k"),
                ("sources", "dvcqg"),
                ("can", "ingest:everything"),
            ],
            "can",
        ),
        (vec![("name", "k"), ("sources", "dvcqg")], "can"),
    ] {
        let (s, body, _) = w.call(Admin, Method::POST, "/admin/keys", &form).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {body}");
        assert!(
            body.contains(&format!("{named}:")),
            "{form:?}: {named} not named: {body}"
        );
    }
    assert_eq!(w.store.keys().await.unwrap().len(), keys_before);
}

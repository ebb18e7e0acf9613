//! Sign-in with the national e-ID, against a real OpenID Connect provider: node-oidc-provider
//! (tests/oidc-provider, `npm ci` by scripts/test-deps.sh) started here on loopback, and the
//! real `dxhub demo` binary; an HTTP client with a cookie jar plays the browser, filling in
//! the provider's own login and consent forms.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url, header};

const CLIENT_ID: &str = "dxhub-test";
const CLIENT_SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn provider_dir() -> PathBuf {
    repo_root().join("tests/oidc-provider")
}

/// Whether the provider can be run; None when the OIDC tests were explicitly skipped.
fn provider_available() -> Option<()> {
    let skip = std::env::var("DXHUB_SKIP_OIDC").as_deref() == Ok("1");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = provider_dir()
        .join("node_modules/oidc-provider/package.json")
        .exists();
    if node && installed {
        return Some(());
    }
    if skip {
        eprintln!("!!! OpenID Connect test SKIPPED (DXHUB_SKIP_OIDC=1) !!!");
        return None;
    }
    panic!(
        "{}: run scripts/test-deps.sh (or `npm ci --prefix tests/oidc-provider`), or set DXHUB_SKIP_OIDC=1 to skip on purpose",
        if node {
            "the test OpenID Connect provider's packages are not installed"
        } else {
            "node is not installed"
        }
    );
}

/// Lines of a child's output, read on a thread.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle` on `rx`, keeping every line in `log`.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    log: &mut Vec<String>,
    needle: &str,
    what: &str,
    limit: Duration,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                log.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("{what} did not start; its output:\n{}", log.join("\n")),
        }
    }
}

/// A running child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The running provider.
struct Provider {
    _proc: Proc,
    issuer: String,
}

/// Starts `node tests/oidc-provider/server.mjs` with one client redirecting to `redirect`.
fn start_provider(redirect: &str, claims_in: &str) -> Provider {
    let mut child = Command::new("node")
        .arg(provider_dir().join("server.mjs"))
        .env("OIDC_PORT", "0")
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URIS", redirect)
        .env("OIDC_CLAIMS_IN", claims_in)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node tests/oidc-provider/server.mjs: {e}"));
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let proc = Proc(child);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        while let Ok(l) = err.try_recv() {
            log.push(l);
        }
        if let Ok(l) = out.recv_timeout(Duration::from_millis(100)) {
            log.push(l.clone());
            if let Some(issuer) = l.strip_prefix("ready ") {
                break issuer.trim().to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the OpenID Connect provider did not start; its output:\n{}",
            log.join("\n")
        );
    };
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out {});
    std::thread::spawn(move || for _ in err {});
    Provider {
        _proc: proc,
        issuer: ready,
    }
}

/// A free port on loopback (dxhub's must be known before the provider starts, for the
/// redirect URI).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running `dxhub demo`.
struct Dxhub {
    _proc: Proc,
    base: String,
    log: mpsc::Receiver<String>,
}

impl Dxhub {
    /// Waits for a log line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        wait_line(
            &self.log,
            &mut seen,
            needle,
            "the log line",
            Duration::from_secs(10),
        )
    }
}

fn start_dxhub(data_dir: &Path, port: u16, issuer: &str) -> Dxhub {
    let base = format!("http://127.0.0.1:{port}");
    let mut child = common::dxhub()
        .args(["demo", "--data-dir", data_dir.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--oidc-issuer", issuer, "--oidc-client-id", CLIENT_ID])
        .args(["--public-url", &base])
        .env("DXHUB_OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dxhub");
    let rx = lines_of(child.stderr.take().unwrap());
    let proc = Proc(child);
    let mut log = Vec::new();
    wait_line(
        &rx,
        &mut log,
        "serving on http://",
        "dxhub",
        Duration::from_secs(120),
    );
    assert!(
        log.iter()
            .any(|l| l.contains("OpenID Connect sign-in enabled")),
        "{}",
        log.join("\n")
    );
    Dxhub {
        _proc: proc,
        base,
        log: rx,
    }
}

fn add_user(data_dir: &Path, email: &str, role: &str, name: &str) {
    let out = common::dxhub()
        .args(["user", "add", "--database"])
        .arg(format!("sqlite://{}", data_dir.join("dxhub.db").display()))
        .args(["--email", email, "--role", role, "--name", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser: a cookie jar, no automatic redirects (each hop is looked at).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
            .replace("&#47;", "/"),
    )
}

/// The first form of a page: its action and its fields, the login name and any password
/// filled in.
fn fill_form(html: &str, login: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a form on the provider's page");
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let open_end = form.find('>').unwrap();
    let action = attr(&form[..open_end], "action").expect("form action");
    let mut fields = Vec::new();
    for piece in form.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        let value = match (name.as_str(), attr(tag, "type").as_deref()) {
            ("login", _) => login.to_owned(),
            (_, Some("password")) => "any password will do".to_owned(),
            _ => attr(tag, "value").unwrap_or_default(),
        };
        fields.push((name, value));
    }
    (action, fields)
}

/// Starts sign-in at dxhub and goes through the provider's login (and consent) as `login`;
/// returns the URL the provider sends the browser back to, not yet visited.
async fn through_provider(client: &reqwest::Client, base: &str, login: &str, next: &str) -> Url {
    let start = format!("{base}/auth/oidc/login?next={next}");
    let mut resp = client.get(&start).send().await.unwrap();
    for _ in 0..20 {
        let here = resp.url().clone();
        if resp.status().is_redirection() {
            let to = resp.headers()[header::LOCATION]
                .to_str()
                .unwrap()
                .to_owned();
            let to = here.join(&to).unwrap();
            if to
                .as_str()
                .starts_with(&format!("{base}/auth/oidc/callback"))
            {
                return to;
            }
            resp = client.get(to).send().await.unwrap();
            continue;
        }
        let status = resp.status();
        let html = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "at {here}: {html}");
        let (action, fields) = fill_form(&html, login);
        let action = here.join(&action).unwrap();
        resp = client.post(action).form(&fields).send().await.unwrap();
    }
    panic!("the provider did not send the browser back after 20 steps");
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn has_session_cookie(resp: &reqwest::Response) -> bool {
    set_cookies(resp)
        .iter()
        .any(|c| c.starts_with("dxhub_session=") && !c.starts_with("dxhub_session=;"))
}

async fn get_text(client: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// The audit trail as CSV, read by a signed-in admin.
async fn audit_csv(client: &reqwest::Client, base: &str) -> String {
    let (status, csv) = get_text(client, &format!("{base}/admin/audit.csv")).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    csv
}

/// A page's header, where the signed-in person is named (the rest is a large map).
fn header_of(html: &str) -> &str {
    let start = html.find("<header").unwrap_or(0);
    let end = html.find("</header>").map_or(html.len(), |e| e + 9);
    &html[start..end.max(start)]
}

fn count_lines(csv: &str, needle: &str) -> usize {
    csv.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_eid_sign_in_links_by_email_then_finds_by_subject() {
    let Some(()) = provider_available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "an@example.vn", "admin", "Nguyễn Thị An");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = start_provider(&format!("{base}/auth/oidc/callback"), "id_token");
    let dxhub = start_dxhub(&data, port, &provider.issuer);
    assert_eq!(dxhub.base, base);

    // The sign-in page offers the e-ID, in both languages.
    let client = browser();
    let (status, page) = get_text(&client, &format!("{base}/login")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Đăng nhập bằng định danh điện tử (VNeID)"),
        "{page}"
    );
    assert!(page.contains("/auth/oidc/login?next=%2F"), "{page}");
    let (_, page) = get_text(&client, &format!("{base}/login?lang=en")).await;
    assert!(page.contains("Sign in with national e-ID"), "{page}");

    // First sign-in: the verified e-mail finds the account, which is linked to the subject.
    let callback = through_provider(&client, &base, "an", "%2Fadmin%2Faudit").await;
    let query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    assert!(query.iter().any(|(k, _)| k == "code"), "{callback}");
    assert!(query.iter().any(|(k, _)| k == "state"), "{callback}");
    let resp = client.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/admin/audit");
    assert!(has_session_cookie(&resp), "{:?}", set_cookies(&resp));
    let line = dxhub.wait_for("OpenID Connect identity verified");
    assert!(line.contains("claims_from=\"id_token\""), "{line}");
    let (status, home) = get_text(&client, &format!("{base}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        header_of(&home).contains("Nguyễn Thị An"),
        "not signed in: {}",
        header_of(&home)
    );
    assert!(
        header_of(&home).contains("action=\"/logout\""),
        "{}",
        header_of(&home)
    );

    let csv = audit_csv(&client, &base).await;
    let subject = format!("{} an", provider.issuer);
    assert_eq!(count_lines(&csv, "user.oidc_link"), 1, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("user.oidc_link") && l.contains(&subject)),
        "the link names the subject {subject:?}: {csv}"
    );
    assert_eq!(count_lines(&csv, "session.login,"), 1, "{csv}");

    // Second sign-in, in another browser: the account is found by its linked subject (the
    // e-mail route would refuse an account that is already linked), and nothing is linked
    // again.
    let other = browser();
    let callback = through_provider(&other, &base, "an", "%2F").await;
    let resp = other.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/");
    assert!(has_session_cookie(&resp));
    let (_, home) = get_text(&other, &format!("{base}/")).await;
    assert!(
        header_of(&home).contains("Nguyễn Thị An"),
        "{}",
        header_of(&home)
    );
    let csv = audit_csv(&other, &base).await;
    assert_eq!(count_lines(&csv, "user.oidc_link"), 1, "{csv}");
    assert_eq!(count_lines(&csv, "session.login,"), 2, "{csv}");
    assert!(
        csv.lines()
            .filter(|l| l.contains("session.login,"))
            .all(|l| l.contains("an@example.vn")),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_identities_and_tampered_answers_are_refused() {
    let Some(()) = provider_available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "binh@example.vn", "reviewer", "Trần Văn Bình");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // This provider keeps the e-mail claims at its userinfo endpoint only.
    let provider = start_provider(&format!("{base}/auth/oidc/callback"), "userinfo");
    let dxhub = start_dxhub(&data, port, &provider.issuer);

    // An identity whose e-mail has no account: a clear refusal, and no session.
    let client = browser();
    let callback = through_provider(&client, &base, "khach", "%2F").await;
    let resp = client.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&resp));
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("không ứng với tài khoản dxhub nào"),
        "no clear refusal: {page}"
    );
    assert!(page.contains("khach@example.vn"), "{page}");
    let line = dxhub.wait_for("OpenID Connect identity verified");
    assert!(line.contains("claims_from=\"userinfo\""), "{line}");
    let (_, home) = get_text(&client, &format!("{base}/")).await;
    assert!(
        header_of(&home).contains("href=\"/login\""),
        "signed in after all: {}",
        header_of(&home)
    );

    // A tampered state: refused, no session; the started sign-in is used up, so the
    // genuine answer is refused too afterwards.
    let client = browser();
    let genuine = through_provider(&client, &base, "binh", "%2F").await;
    let mut tampered = genuine.clone();
    let pairs: Vec<(String, String)> = genuine
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, format!("{v}x"))
            } else {
                (k, v)
            }
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(&pairs);
    let resp = client.get(tampered).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&resp));
    let page = resp.text().await.unwrap();
    assert!(page.contains("không khớp"), "{page}");
    let resp = client.get(genuine).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&resp));
    let (_, home) = get_text(&client, &format!("{base}/")).await;
    assert!(
        !header_of(&home).contains("Trần Văn Bình"),
        "{}",
        header_of(&home)
    );

    // An answer for a browser that started nothing.
    let stranger = browser();
    let (status, _) = get_text(
        &stranger,
        &format!("{base}/auth/oidc/callback?code=abc&state=def"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // And the same person, done properly, signs in (e-mail read from userinfo).
    let client = browser();
    let callback = through_provider(&client, &base, "binh", "%2F").await;
    let resp = client.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&resp));
    let (_, home) = get_text(&client, &format!("{base}/")).await;
    assert!(
        header_of(&home).contains("Trần Văn Bình"),
        "not signed in: {}",
        header_of(&home)
    );
}

#[test]
fn start_up_fails_clearly_when_the_provider_cannot_be_discovered() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = common::dxhub()
        .args(["demo", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--oidc-issuer",
            &format!("http://127.0.0.1:{port}"),
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-client-secret",
            CLIENT_SECRET,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot discover the OpenID Connect provider"),
        "{err}"
    );
    // Plain http is accepted only on loopback.
    let out = common::dxhub()
        .args(["demo", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--oidc-issuer",
            "http://id.example.vn",
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-client-secret",
            CLIENT_SECRET,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("only https is accepted"), "{err}");
}

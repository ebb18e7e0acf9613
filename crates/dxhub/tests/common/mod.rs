//! Drives the real `dxhub` binary: start it, wait until it serves, talk HTTP to it, stop it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `dxhub` process and everything it has logged so far.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
    pub base: String,
}

/// The command for the binary under test.
pub fn dxhub() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dxhub"));
    c.env("RUST_LOG", "info").env_remove("DXHUB_DATABASE_URL");
    c
}

impl Running {
    /// Starts `dxhub ARGS --listen 127.0.0.1:0` and waits for "serving on".
    pub fn start(args: &[&str]) -> Running {
        let mut child = dxhub()
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dxhub");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Running {
            child,
            lines: rx,
            log: Vec::new(),
            base: String::new(),
        };
        let line = r.wait_for("serving on http://", Duration::from_secs(120));
        let url = line
            .split("serving on ")
            .nth(1)
            .expect("address")
            .trim()
            .to_owned();
        r.base = url;
        r
    }

    /// Waits for a log line containing `needle`; panics with the log so far on time-out.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Whether any log line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.iter().any(|l| l.contains(needle))
    }

    /// GET a path; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.base, path)
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for the process to exit.
    pub fn interrupt(mut self) -> (ExitStatus, Vec<String>) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "could not signal dxhub");
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET, enough for tests (no dependency on a client library).
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A fresh PostgreSQL database URL on the test server, or None when PostgreSQL is
/// explicitly skipped. Panics when neither is configured (see scripts/test).
pub fn postgres_database() -> Option<String> {
    let Ok(admin) = std::env::var("DXHUB_TEST_DATABASE_URL") else {
        if std::env::var("DXHUB_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!("!!! PostgreSQL case SKIPPED (DXHUB_SKIP_POSTGRES=1) !!!");
            return None;
        }
        panic!(
            "DXHUB_TEST_DATABASE_URL is not set: run scripts/test, or set DXHUB_SKIP_POSTGRES=1 to skip on purpose"
        );
    };
    let name = format!(
        "dxhub_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("connect to test PostgreSQL");
        tokio::spawn(conn);
        client
            .execute(&format!("CREATE DATABASE {name}"), &[])
            .await
            .expect("create database");
    });
    // The admin URL ends in its database name; swap it for the new one.
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

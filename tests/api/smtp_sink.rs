//! A real SMTP server on loopback for the tests: it speaks enough ESMTP for any client, keeps every
//! message, and can be switched "down" (answering 421 to every connection) to simulate an outage.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    up: Arc<AtomicBool>,
    /// The `AUTH PLAIN` responses clients sent (base64), to see credentials were used.
    logins: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            addr: listener.local_addr().unwrap(),
            mails: Arc::default(),
            up: Arc::new(AtomicBool::new(true)),
            logins: Arc::default(),
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = serving.clone();
                tokio::spawn(async move {
                    let _ = sink.converse(stream).await;
                });
            }
        });
        sink
    }

    /// The `smtp_url` setting for a server that should deliver here (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// The base64 `AUTH PLAIN` responses received so far.
    pub fn logins(&self) -> Vec<String> {
        self.logins.lock().unwrap().clone()
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails().into_iter().filter(|m| m.to == to).collect()
    }

    /// Waits until `count` mails for `to` have arrived (at most 20 s), and answers them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} mail(s) to {to}, got {}: {mails:?}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn converse(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        if !self.up.load(Ordering::SeqCst) {
            write.write_all(b"421 4.3.2 sink is down\r\n").await?;
            return Ok(());
        }
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            let reply: &[u8] = if command.starts_with("EHLO") {
                b"250-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n"
            } else if command.starts_with("AUTH PLAIN") {
                let response = line.trim_end().split(' ').nth(2).unwrap_or_default();
                self.logins.lock().unwrap().push(response.to_owned());
                b"235 2.7.0 accepted\r\n"
            } else if command.starts_with("HELO")
                || command.starts_with("RSET")
                || command.starts_with("NOOP")
            {
                b"250 OK\r\n"
            } else if command.starts_with("MAIL FROM:") {
                from = address(&line);
                b"250 OK\r\n"
            } else if command.starts_with("RCPT TO:") {
                to = address(&line);
                b"250 OK\r\n"
            } else if command.starts_with("DATA") {
                write.write_all(b"354 go ahead\r\n").await?;
                let raw = read_data(&mut lines).await?;
                self.keep(&from, &to, raw);
                b"250 OK queued\r\n"
            } else if command.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"502 not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
    }

    fn keep(&self, from: &str, to: &str, raw: String) {
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a parsable message");
        let mail = Mail {
            to: to.to_owned(),
            from: from.to_owned(),
            subject: parsed.subject().unwrap_or_default().to_owned(),
            text: parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: parsed
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            raw,
        };
        self.mails.lock().unwrap().push(mail);
    }
}

fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.find('>').unwrap_or(line.len());
    line[start..end].trim().to_owned()
}

async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 || line == ".\r\n" || line == ".\n" {
            return Ok(data);
        }
        // Dot-stuffing (RFC 5321 §4.5.2).
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}

/// The first URL in `text` that starts with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// The token in a reset link (`…/reset-password/<token>?callbackURL=…`).
pub fn reset_token_of(link: &str) -> String {
    link.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

//! PMI-1's wire format: one command per line, `cmd=NAME key=value key=value`.
//!
//! rmpi's launcher and ranks speak the subset of PMI-1 that MPICH's simple PMI client uses
//! (`initack`, `init`, `get_maxes`, `get_my_kvsname`, `put`, `barrier_in`, `get`,
//! `finalize`), so the same client joins jobs that MPICH's Hydra and Slurm launch. Fields
//! keep their order: some servers read them by position.

use rmpi_core::auth::{self, Nonce, NONCE_LEN};

/// Longest line either side accepts; PMI-1 values are at most 1024 bytes.
pub const MAX_LINE: usize = 4096;

/// One PMI-1 command or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `cmd=` field.
    pub cmd: String,
    /// The other fields, in order.
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// A message with the given command and fields.
    pub fn new<'a>(cmd: &str, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Message {
        Message {
            cmd: cmd.to_owned(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Parses one line; ASCII whitespace separates fields, so its newline may be left on
    /// (and other whitespace, such as U+0085, is part of a value).
    pub fn parse(line: &str) -> Result<Message, String> {
        let mut cmd = None;
        let mut fields = Vec::new();
        for word in line.split_ascii_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("field without '=' in {line:?}"))?;
            if key == "cmd" {
                cmd = Some(value.to_owned());
            } else {
                fields.push((key.to_owned(), value.to_owned()));
            }
        }
        let cmd = cmd.ok_or_else(|| format!("no cmd= in {line:?}"))?;
        Ok(Message { cmd, fields })
    }

    /// The line for this message, newline included, fields in their order.
    pub fn to_line(&self) -> String {
        let mut line = format!("cmd={}", self.cmd);
        for (key, value) in &self.fields {
            line.push_str(&format!(" {key}={value}"));
        }
        line.push('\n');
        line
    }

    /// A field's value.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `text` can travel as a key or value: printable ASCII without spaces or `=`.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

/// The proofs rmpi's launcher and a rank exchange when the rank joins (the launcher's
/// `challenge`, the rank's `prove`), in hex: each shows the other it knows the job's secret
/// without sending it ([`rmpi_core::auth`]).
#[derive(Debug)]
pub struct Proofs {
    secret: Vec<u8>,
    rank: String,
    client: Nonce,
    server: Nonce,
}

impl Proofs {
    /// The proofs for `rank` joining, with the rank's and the launcher's nonces.
    pub fn new(secret: &[u8], rank: usize, client: Nonce, server: Nonce) -> Proofs {
        Proofs {
            secret: secret.to_vec(),
            rank: rank.to_string(),
            client,
            server,
        }
    }

    /// A nonce sent as hex; `None` if it is not one.
    pub fn nonce_from(hex: &str) -> Option<Nonce> {
        let bytes: [u8; NONCE_LEN] = auth::decode_hex(hex)?.try_into().ok()?;
        Some(Nonce::from_bytes(bytes))
    }

    fn transcript(&self) -> [&[u8]; 3] {
        [
            self.rank.as_bytes(),
            self.client.as_bytes(),
            self.server.as_bytes(),
        ]
    }

    /// The launcher's nonce, in hex.
    pub fn server_nonce(&self) -> String {
        auth::encode_hex(self.server.as_bytes())
    }

    /// The launcher's proof.
    pub fn server(&self) -> String {
        auth::encode_hex(&auth::prove(
            &self.secret,
            "rmpi-pmi launcher",
            &self.transcript(),
        ))
    }

    /// The rank's proof.
    pub fn client(&self) -> String {
        auth::encode_hex(&auth::prove(
            &self.secret,
            "rmpi-pmi rank",
            &self.transcript(),
        ))
    }

    /// Whether `hex` is the launcher's proof.
    pub fn is_server(&self, hex: &str) -> bool {
        self.is("rmpi-pmi launcher", hex)
    }

    /// Whether `hex` is the rank's proof.
    pub fn is_client(&self, hex: &str) -> bool {
        self.is("rmpi-pmi rank", hex)
    }

    fn is(&self, role: &str, hex: &str) -> bool {
        auth::decode_hex(hex)
            .is_some_and(|proof| auth::verify(&self.secret, role, &self.transcript(), &proof))
    }
}

/// `text` as a field value: bytes that are not printable ASCII, `=` and `%` become `%XX`.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'=' && byte != b'%' {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// The text [`escape`] made `value` of; `None` if it is not such a value.
pub fn unescape(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(after.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let message = Message::new(
            "put",
            [("kvsname", "job-1"), ("key", "a"), ("value", "1:2")],
        );
        assert_eq!(Message::parse(message.to_line().trim_end()), Ok(message));
        let init = Message::new("init", [("pmi_version", "1"), ("pmi_subversion", "1")]);
        assert_eq!(init.to_line(), "cmd=init pmi_version=1 pmi_subversion=1\n");
        assert!(Message::parse("hello world").is_err());
        assert!(Message::parse("key=value").is_err());
        assert!(is_token("127.0.0.1:4000") && !is_token("a b") && !is_token("a=b"));
    }

    #[test]
    fn escaped_text_is_a_token_and_comes_back_whole() {
        for text in [
            "recv from rank 1, tag 11, at src/a b.rs:3:9",
            "100% = ok",
            "é",
            "",
        ] {
            let escaped = escape(text);
            assert!(escaped.is_empty() || is_token(&escaped), "{escaped}");
            assert_eq!(unescape(&escaped).as_deref(), Some(text));
        }
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%zz"), None);
    }
}

//! PMI-1's wire format: one command per line, `cmd=NAME key=value key=value`.
//!
//! rmpi's launcher and ranks speak the subset of PMI-1 that MPICH's simple PMI client uses
//! (`initack`, `init`, `get_maxes`, `get_my_kvsname`, `put`, `barrier_in`, `get`,
//! `finalize`), so the same client joins jobs that MPICH's Hydra and Slurm launch. Fields
//! keep their order: some servers read them by position.

use rmpi_core::auth::{self, Nonce, NONCE_LEN};

/// Longest line either side accepts; PMI-1 values are at most 1024 bytes.
///
/// ```
/// // A `put` of a key and a value at PMI-1's limits (64 and 1024 bytes) fits.
/// let put = rmpi_launch::pmi::Message::new("put", [("key", &*"k".repeat(64)), ("value", &*"v".repeat(1024))]);
/// assert!(put.to_line().len() < rmpi_launch::pmi::MAX_LINE);
/// ```
pub const MAX_LINE: usize = 4096;

/// One PMI-1 command or reply.
///
/// ```
/// use rmpi_launch::pmi::Message;
/// let reply = Message::parse("cmd=get_result rc=0 value=abc\n")?;
/// assert_eq!(reply.cmd, "get_result");
/// assert_eq!(reply.field("value"), Some("abc"));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `cmd=` field.
    pub cmd: String,
    /// The other fields, in order.
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// A message with the given command and fields.
    ///
    /// ```
    /// use rmpi_launch::pmi::Message;
    /// let init = Message::new("init", [("pmi_version", "1"), ("pmi_subversion", "1")]);
    /// assert_eq!(init.to_line(), "cmd=init pmi_version=1 pmi_subversion=1\n");
    /// ```
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
    ///
    /// ```
    /// use rmpi_launch::pmi::Message;
    /// let maxes = Message::parse("cmd=maxes kvsname_max=256 keylen_max=64 vallen_max=1024")?;
    /// assert_eq!(maxes.field("keylen_max"), Some("64"));
    /// assert!(Message::parse("no command here").is_err());
    /// # Ok::<(), String>(())
    /// ```
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
    ///
    /// ```
    /// use rmpi_launch::pmi::Message;
    /// let put = Message::new("put", [("kvsname", "job"), ("key", "addr-0"), ("value", "10.0.0.1:7000")]);
    /// assert_eq!(put.to_line(), "cmd=put kvsname=job key=addr-0 value=10.0.0.1:7000\n");
    /// ```
    pub fn to_line(&self) -> String {
        let mut line = format!("cmd={}", self.cmd);
        for (key, value) in &self.fields {
            line.push_str(&format!(" {key}={value}"));
        }
        line.push('\n');
        line
    }

    /// A field's value.
    ///
    /// ```
    /// use rmpi_launch::pmi::Message;
    /// let reply = Message::parse("cmd=barrier_out rc=0")?;
    /// assert_eq!(reply.field("rc"), Some("0"));
    /// assert_eq!(reply.field("msg"), None);
    /// # Ok::<(), String>(())
    /// ```
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `text` can travel as a key or value: printable ASCII without spaces or `=`.
///
/// ```
/// use rmpi_launch::pmi::is_token;
/// assert!(is_token("addr-0"));
/// assert!(!is_token("a b"));
/// assert!(!is_token("k=v"));
/// ```
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

/// The proofs rmpi's launcher and a rank exchange when the rank joins (the launcher's
/// `challenge`, the rank's `prove`), in hex: each shows the other it knows the job's secret
/// without sending it (`rmpi_core::auth`).
///
/// ```
/// use rmpi_core::auth::Nonce;
/// use rmpi_launch::pmi::Proofs;
/// let secret = b"the job's secret";
/// let (client, server) = (Nonce::random().unwrap(), Nonce::random().unwrap());
/// let launcher = Proofs::new(secret, 3, client, server);
/// let rank = Proofs::new(secret, 3, client, server);
/// assert!(launcher.is_client(&rank.client()));
/// assert!(rank.is_server(&launcher.server()));
/// let stranger = Proofs::new(b"a guess", 3, client, server);
/// assert!(!launcher.is_client(&stranger.client()));
/// ```
#[derive(Debug)]
pub struct Proofs {
    secret: Vec<u8>,
    rank: String,
    client: Nonce,
    server: Nonce,
}

impl Proofs {
    /// The proofs for `rank` joining, with the rank's and the launcher's nonces.
    ///
    /// ```
    /// use rmpi_launch::pmi::Message;
    /// let init = Message::new("init", [("pmi_version", "1"), ("pmi_subversion", "1")]);
    /// assert_eq!(init.to_line(), "cmd=init pmi_version=1 pmi_subversion=1\n");
    /// ```
    pub fn new(secret: &[u8], rank: usize, client: Nonce, server: Nonce) -> Proofs {
        Proofs {
            secret: secret.to_vec(),
            rank: rank.to_string(),
            client,
            server,
        }
    }

    /// A nonce sent as hex; `None` if it is not one.
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let proofs = Proofs::new(b"secret", 0, Nonce::random().unwrap(), Nonce::random().unwrap());
    /// assert!(Proofs::nonce_from(&proofs.server_nonce()).is_some());
    /// assert!(Proofs::nonce_from("not hex").is_none());
    /// ```
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
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let server = Nonce::random().unwrap();
    /// let proofs = Proofs::new(b"secret", 0, Nonce::random().unwrap(), server);
    /// assert_eq!(Proofs::nonce_from(&proofs.server_nonce()), Some(server));
    /// ```
    pub fn server_nonce(&self) -> String {
        auth::encode_hex(self.server.as_bytes())
    }

    /// The launcher's proof.
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let proofs = Proofs::new(b"secret", 1, Nonce::random().unwrap(), Nonce::random().unwrap());
    /// assert!(proofs.is_server(&proofs.server()));
    /// assert!(!proofs.is_server(&proofs.client())); // the two proofs differ
    /// ```
    pub fn server(&self) -> String {
        auth::encode_hex(&auth::prove(
            &self.secret,
            "rmpi-pmi launcher",
            &self.transcript(),
        ))
    }

    /// The rank's proof.
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let proofs = Proofs::new(b"secret", 1, Nonce::random().unwrap(), Nonce::random().unwrap());
    /// assert!(proofs.is_client(&proofs.client()));
    /// ```
    pub fn client(&self) -> String {
        auth::encode_hex(&auth::prove(
            &self.secret,
            "rmpi-pmi rank",
            &self.transcript(),
        ))
    }

    /// Whether `hex` is the launcher's proof.
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let (client, server) = (Nonce::random().unwrap(), Nonce::random().unwrap());
    /// let rank_2 = Proofs::new(b"secret", 2, client, server);
    /// assert!(!Proofs::new(b"secret", 1, client, server).is_server(&rank_2.server()));
    /// ```
    pub fn is_server(&self, hex: &str) -> bool {
        self.is("rmpi-pmi launcher", hex)
    }

    /// Whether `hex` is the rank's proof.
    ///
    /// ```
    /// use rmpi_core::auth::Nonce;
    /// use rmpi_launch::pmi::Proofs;
    /// let (client, server) = (Nonce::random().unwrap(), Nonce::random().unwrap());
    /// let genuine = Proofs::new(b"secret", 0, client, server);
    /// assert!(!genuine.is_client("00"));
    /// ```
    pub fn is_client(&self, hex: &str) -> bool {
        self.is("rmpi-pmi rank", hex)
    }

    fn is(&self, role: &str, hex: &str) -> bool {
        auth::decode_hex(hex)
            .is_some_and(|proof| auth::verify(&self.secret, role, &self.transcript(), &proof))
    }
}

/// `text` as a field value: bytes that are not printable ASCII, `=` and `%` become `%XX`.
///
/// ```
/// use rmpi_launch::pmi::{escape, unescape};
/// let value = escape("a b=c%");
/// assert_eq!(value, "a%20b%3Dc%25");
/// assert_eq!(unescape(&value).as_deref(), Some("a b=c%"));
/// ```
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
///
/// ```
/// use rmpi_launch::pmi::unescape;
/// assert_eq!(unescape("x%41").as_deref(), Some("xA"));
/// assert_eq!(unescape("bad%4"), None);
/// ```
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

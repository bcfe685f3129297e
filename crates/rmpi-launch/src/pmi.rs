//! PMI-1's wire format: one command per line, `cmd=NAME key=value key=value`.
//!
//! rmpi's launcher and ranks speak the subset of PMI-1 that MPICH's simple PMI client uses
//! (`initack`, `init`, `get_maxes`, `get_my_kvsname`, `put`, `barrier_in`, `get`,
//! `finalize`), so the same client can later join jobs that MPICH's Hydra launches.

use std::collections::HashMap;

/// Longest line either side accepts; PMI-1 values are at most 1024 bytes.
pub const MAX_LINE: usize = 4096;

/// One PMI-1 command or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `cmd=` field.
    pub cmd: String,
    /// The other fields.
    pub fields: HashMap<String, String>,
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

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<Message, String> {
        let mut cmd = None;
        let mut fields = HashMap::new();
        for word in line.split_ascii_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("field without '=' in {line:?}"))?;
            if key == "cmd" {
                cmd = Some(value.to_owned());
            } else {
                fields.insert(key.to_owned(), value.to_owned());
            }
        }
        let cmd = cmd.ok_or_else(|| format!("no cmd= in {line:?}"))?;
        Ok(Message { cmd, fields })
    }

    /// The line for this message, newline included. Fields are written in key order so the
    /// output is deterministic.
    pub fn to_line(&self) -> String {
        let mut keys: Vec<&String> = self.fields.keys().collect();
        keys.sort();
        let mut line = format!("cmd={}", self.cmd);
        for key in keys {
            line.push_str(&format!(" {key}={}", self.fields[key]));
        }
        line.push('\n');
        line
    }

    /// A field's value.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// Whether `text` can travel as a key or value: printable ASCII without spaces or `=`.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
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
        assert!(Message::parse("hello world").is_err());
        assert!(Message::parse("key=value").is_err());
        assert!(is_token("127.0.0.1:4000") && !is_token("a b") && !is_token("a=b"));
    }
}

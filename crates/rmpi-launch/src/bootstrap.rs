//! Joining a job from inside a rank: [`from_env`] finds out how this process was started.
//!
//! Under `rmpirun` the environment names the launcher's PMI-1 service, this rank, the job
//! size, the job id and its secret; [`PmiClient`] speaks to the service. Started any other
//! way, the process is a [`Singleton`]: rank 0 of 1, as MPI does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use rmpi_core::bootstrap::Singleton;
use rmpi_core::{Bootstrap, Error, Result};

use crate::env;
use crate::pmi::{is_token, Message, MAX_LINE};

/// The bootstrap this process was started with.
pub fn from_env() -> Result<Box<dyn Bootstrap>> {
    match std::env::var(env::PMI_PORT) {
        Ok(address) => Ok(Box::new(PmiClient::connect(&address)?)),
        Err(_) => Ok(Box::new(Singleton::new())),
    }
}

fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::Bootstrap(format!("{name} is not set")))
}

fn number(name: &str) -> Result<usize> {
    let text = var(name)?;
    text.parse()
        .map_err(|_| Error::Bootstrap(format!("{name}={text} is not a number")))
}

/// A rank's connection to the launcher's PMI-1 service.
#[derive(Debug)]
pub struct PmiClient {
    rank: usize,
    size: usize,
    job_id: String,
    secret: Vec<u8>,
    kvsname: String,
    connection: Mutex<BufReader<TcpStream>>,
}

impl PmiClient {
    /// Connects to the service at `address` and introduces this rank, which the environment
    /// names along with the job.
    pub fn connect(address: &str) -> Result<PmiClient> {
        let (rank, size) = (number(env::RANK)?, number(env::SIZE)?);
        let secret = decode_hex(&var(env::SECRET)?)
            .ok_or_else(|| Error::Bootstrap(format!("{} is not hex", env::SECRET)))?;
        let stream = TcpStream::connect(address).map_err(|e| {
            Error::Bootstrap(format!("cannot reach the launcher at {address}: {e}"))
        })?;
        stream.set_nodelay(true)?;
        let mut client = PmiClient {
            rank,
            size,
            job_id: var(env::JOB_ID)?,
            secret,
            kvsname: String::new(),
            connection: Mutex::new(BufReader::new(stream)),
        };
        client.send(&Message::new(
            "initack",
            [("pmiid", rank.to_string().as_str())],
        ))?;
        client.expect("initack")?;
        for _ in 0..3 {
            client.expect("set")?; // size, rank, debug: the environment already said
        }
        let init = Message::new("init", [("pmi_version", "1"), ("pmi_subversion", "1")]);
        client.request(&init, "response_to_init")?;
        let reply = client.request(&Message::new("get_my_kvsname", []), "my_kvsname")?;
        client.kvsname = reply
            .field("kvsname")
            .ok_or_else(|| Error::Bootstrap("the launcher named no key-value space".into()))?
            .to_owned();
        Ok(client)
    }

    fn send(&self, message: &Message) -> Result<()> {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        connection
            .get_mut()
            .write_all(message.to_line().as_bytes())?;
        Ok(())
    }

    fn expect(&self, cmd: &str) -> Result<Message> {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = String::new();
        let read = (&mut *connection)
            .take(MAX_LINE as u64)
            .read_line(&mut line)?;
        if read == 0 {
            return Err(Error::Bootstrap(
                "the launcher closed the connection".into(),
            ));
        }
        let message = Message::parse(line.trim_end()).map_err(Error::Bootstrap)?;
        if message.cmd != cmd {
            return Err(Error::Bootstrap(format!(
                "the launcher answered {:?} where {cmd} was expected",
                message.cmd
            )));
        }
        match message.field("rc") {
            Some(rc) if rc != "0" => Err(Error::Bootstrap(format!(
                "the launcher refused: {}",
                message.field("msg").unwrap_or(rc)
            ))),
            _ => Ok(message),
        }
    }

    fn request(&self, message: &Message, reply: &str) -> Result<Message> {
        self.send(message)?;
        self.expect(reply)
    }
}

impl Bootstrap for PmiClient {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn job_secret(&self) -> &[u8] {
        &self.secret
    }

    fn put(&self, key: &str, value: &str) -> Result<()> {
        if !is_token(key) || !is_token(value) {
            return Err(Error::Bootstrap(format!(
                "cannot publish {key:?}={value:?}: keys and values are printable ASCII \
                 without spaces or '='"
            )));
        }
        let put = Message::new(
            "put",
            [
                ("kvsname", self.kvsname.as_str()),
                ("key", key),
                ("value", value),
            ],
        );
        self.request(&put, "put_result").map(drop)
    }

    fn fence(&self) -> Result<()> {
        self.request(&Message::new("barrier_in", []), "barrier_out")
            .map(drop)
    }

    fn get(&self, key: &str) -> Result<String> {
        let get = Message::new("get", [("kvsname", self.kvsname.as_str()), ("key", key)]);
        let reply = self.request(&get, "get_result")?;
        reply
            .field("value")
            .map(str::to_owned)
            .ok_or_else(|| Error::Bootstrap(format!("no value under {key}")))
    }
}

/// Lower-case hex, as the launcher writes secrets.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes.to_vec()));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}

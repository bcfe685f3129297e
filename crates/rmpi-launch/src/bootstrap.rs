//! Joining a job from inside a rank: [`from_env`] finds out how this process was started.
//!
//! Under `rmpirun` the environment names the launcher's PMI-1 service, this rank, the job
//! size, the job id and its secret; [`PmiClient`] speaks to the service, and ends the
//! process if the launcher goes away. Started any other way, the process is a
//! [`Singleton`]: rank 0 of 1, as MPI does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Mutex;

use rmpi_core::auth::{self, Nonce};
use rmpi_core::bootstrap::Singleton;
use rmpi_core::{Bootstrap, Error, Result};

use crate::env;
use crate::pmi::{is_token, Message, Proofs, MAX_LINE};

/// Who started this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Launcher {
    /// `rmpirun`, through its own rendezvous service.
    Rmpirun,
    /// Nobody: a job of one.
    Singleton,
}

/// The job this process joined, and how.
#[derive(Debug)]
pub struct Joined {
    /// The key-value space and fence the transports find each other through.
    pub bootstrap: Box<dyn Bootstrap>,
    /// Who started the job.
    pub launcher: Launcher,
    /// This host's address on the route to the launcher: one the job's other hosts can
    /// reach (loopback when the launcher is on this host and the job stays here).
    pub address: Option<IpAddr>,
}

/// The job this process was started into.
pub fn from_env() -> Result<Joined> {
    let joined = match std::env::var(env::PMI_PORT) {
        Ok(address) => {
            let client = PmiClient::connect(&address)?;
            Joined {
                address: client.local_address(),
                bootstrap: Box::new(client),
                launcher: Launcher::Rmpirun,
            }
        }
        Err(_) => Joined {
            bootstrap: Box::new(Singleton::new()),
            launcher: Launcher::Singleton,
            address: None,
        },
    };
    tracing::debug!(
        "rank {} of {}, started by {:?}",
        joined.bootstrap.rank(),
        joined.bootstrap.size(),
        joined.launcher
    );
    Ok(joined)
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
    /// Connects to the service at `address`, proves that this rank (which the environment
    /// names along with the job) belongs to the job and checks that the service does, then
    /// watches the connection: when the launcher goes away, so does this process.
    pub fn connect(address: &str) -> Result<PmiClient> {
        let (rank, size) = (number(env::RANK)?, number(env::SIZE)?);
        let secret = auth::decode_hex(&var(env::SECRET)?)
            .ok_or_else(|| Error::Bootstrap(format!("{} is not hex", env::SECRET)))?;
        let stream = TcpStream::connect(address).map_err(|e| {
            Error::Bootstrap(format!("cannot reach the launcher at {address}: {e}"))
        })?;
        stream.set_nodelay(true)?;
        let watched = stream.try_clone()?;
        let mut client = PmiClient {
            rank,
            size,
            job_id: var(env::JOB_ID)?,
            secret,
            kvsname: String::new(),
            connection: Mutex::new(BufReader::new(stream)),
        };
        let nonce = Nonce::random()?;
        let hello = Message::new(
            "initack",
            [
                ("pmiid", rank.to_string().as_str()),
                ("nonce", auth::encode_hex(nonce.as_bytes()).as_str()),
            ],
        );
        let challenge = client.request(&hello, "challenge")?;
        let proofs = challenge
            .field("nonce")
            .and_then(Proofs::nonce_from)
            .map(|theirs| Proofs::new(&client.secret, rank, nonce, theirs));
        let proofs = proofs
            .filter(|p| {
                challenge
                    .field("proof")
                    .is_some_and(|proof| p.is_server(proof))
            })
            .ok_or_else(|| {
                Error::Bootstrap(format!(
                    "the service at {address} could not prove it is this job's launcher"
                ))
            })?;
        let prove = Message::new("prove", [("proof", proofs.client().as_str())]);
        client.request(&prove, "initack")?;
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
        crate::watch::end_with_launcher(watched, rank, client.job_id.clone())?;
        Ok(client)
    }

    /// This end's address of the connection to the launcher.
    pub fn local_address(&self) -> Option<IpAddr> {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        connection.get_ref().local_addr().ok().map(|a| a.ip())
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

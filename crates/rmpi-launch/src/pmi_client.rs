//! A rank's side of PMI-1: the client that joins jobs started by `rmpirun`, by MPICH's
//! Hydra (`mpiexec`, over an inherited socket or `-pmi-port`) and by Slurm's
//! `srun --mpi=pmi2`.
//!
//! The three differ only in how the conversation starts:
//! - [`PmiClient::rmpirun`]: `rmpirun`'s service; rank and launcher prove to each other
//!   that they know the job's secret ([`crate::pmi::Proofs`]).
//! - [`PmiClient::inherited`] (`PMI_FD`): rank and size come from the environment; the
//!   conversation opens with `init pmi_version=1 pmi_subversion=1`, in that order.
//! - [`PmiClient::port`] (`PMI_PORT` and `PMI_ID`): `initack pmiid=ID`, and the server
//!   answers with the rank and size.
//!
//! Under the other launchers the job's secret is made by rank 0 and shared through the
//! key-value space before anything else. Values longer than the server's `vallen_max` are
//! split over several keys, so per-rank tables of large jobs still fit. The connection stays
//! open for the rank's life: [`crate::watch`] ends the rank when it closes, and `finalize`
//! is sent when the process exits (Hydra ends a job whose rank closes it without).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmpi_core::auth::{self, Nonce};
use rmpi_core::{Bootstrap, Error, Result};

use crate::pmi::{is_token, Message, Proofs, MAX_LINE};

/// A stream to the PMI server: TCP to `rmpirun` or a `-pmi-port`, or the socket a launcher
/// handed down (`PMI_FD`).
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// An inherited socket.
    Inherited(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Inherited(s) => Stream::Inherited(s.try_clone()?),
        })
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Inherited(s) => s.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Inherited(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Inherited(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Inherited(s) => s.flush(),
        }
    }
}

/// The conversation with the server: one request, one answer, at a time.
#[derive(Debug)]
struct Connection(Mutex<BufReader<Stream>>);

impl Connection {
    /// Sends `message`, which has no answer.
    fn send(&self, message: &Message) -> Result<()> {
        let mut stream = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(stream.get_mut().write_all(message.to_line().as_bytes())?)
    }

    fn request(&self, message: &Message, reply: &str) -> Result<Message> {
        let mut stream = self.0.lock().unwrap_or_else(|e| e.into_inner());
        stream.get_mut().write_all(message.to_line().as_bytes())?;
        Self::expect(&mut stream, reply)
    }

    fn expect(stream: &mut BufReader<Stream>, cmd: &str) -> Result<Message> {
        let mut line = String::new();
        let read = stream.take(MAX_LINE as u64).read_line(&mut line)?;
        if read == 0 {
            return Err(Error::Bootstrap(
                "the launcher closed the connection".into(),
            ));
        }
        let message = Message::parse(&line).map_err(Error::Bootstrap)?;
        if message.cmd != cmd {
            return Err(Error::Bootstrap(format!(
                "the launcher answered {:?} where {cmd} was expected",
                message.cmd
            )));
        }
        match message.field("rc") {
            Some(rc) if rc != "0" => Err(Error::Bootstrap(format!(
                "the launcher refused {cmd}: {}",
                message.field("msg").unwrap_or(rc)
            ))),
            _ => Ok(message),
        }
    }
}

/// A rank's connection to its job's PMI-1 server.
#[derive(Debug)]
pub struct PmiClient {
    rank: usize,
    size: usize,
    job_id: String,
    secret: Vec<u8>,
    kvsname: String,
    key_max: usize,
    value_max: usize,
    connection: Arc<Connection>,
    local_address: Option<IpAddr>,
    /// Whether the server is `rmpirun`'s (which hears why ranks fail).
    rmpirun: bool,
}

/// Whether this process has begun to finalize (the launcher may then close its end).
static FINALIZING: AtomicBool = AtomicBool::new(false);
/// The connection to finalize at exit.
static AT_EXIT: OnceLock<Arc<Connection>> = OnceLock::new();
/// The connection to `rmpirun`, which hears why a rank failed.
static RMPIRUN: OnceLock<Arc<Connection>> = OnceLock::new();

/// Tells `rmpirun` (if it started this process) that this rank is failing, and whether
/// because of another rank (`because_of`: a lost peer, a collective that failed there), so
/// that the launcher names the rank where the failure began rather than one that only
/// reacted to it. Under other launchers it does nothing.
pub fn report_failure(because_of: Option<usize>) {
    if !under_rmpirun() {
        return;
    }
    let because_of = because_of.map_or("none".to_owned(), |rank| rank.to_string());
    let failed = Message::new("rmpi_failed", [("because_of", because_of.as_str())]);
    if let Err(error) = tell_rmpirun(&failed, "rmpi_failed_ack") {
        tracing::debug!("cannot tell the launcher why this rank failed: {error}");
    }
}

/// Whether `rmpirun` started this process (and hears rmpi's own messages).
pub fn under_rmpirun() -> bool {
    RMPIRUN.get().is_some()
}

/// Sends `message`, one of rmpi's own, to `rmpirun`, and waits for its answer `reply`.
pub(crate) fn tell_rmpirun(message: &Message, reply: &str) -> Result<Message> {
    let connection = RMPIRUN
        .get()
        .ok_or_else(|| Error::Bootstrap("rmpirun did not start this process".into()))?;
    connection.request(message, reply)
}

/// Tells the launcher that started this process that this rank aborts the job with exit
/// code `code` (PMI-1's `abort`): `rmpirun` acknowledges it once it has ended the others'
/// wait, other launchers are told and not waited for. The caller then exits with `code`.
pub fn abort(code: i32) {
    let Some(connection) = AT_EXIT.get() else {
        return;
    };
    let code = code.to_string();
    let abort = Message::new("abort", [("exitcode", code.as_str())]);
    let told = match RMPIRUN.get() {
        Some(_) => connection.request(&abort, "abort_ack").map(drop),
        None => connection.send(&abort),
    };
    if let Err(error) = told {
        tracing::debug!("cannot tell the launcher that this rank aborts: {error}");
    }
}

fn parse(name: &str, text: &str) -> Result<usize> {
    text.parse()
        .map_err(|_| Error::Bootstrap(format!("{name}={text} is not a number")))
}

impl PmiClient {
    /// Joins `rmpirun`'s service at `address` as `rank` of `size`, proving membership with
    /// `secret` and checking the service proves it too.
    pub fn rmpirun(
        address: &str,
        rank: usize,
        size: usize,
        job_id: String,
        secret: Vec<u8>,
    ) -> Result<PmiClient> {
        let stream = TcpStream::connect(address).map_err(|e| {
            Error::Bootstrap(format!("cannot reach the launcher at {address}: {e}"))
        })?;
        stream.set_nodelay(true)?;
        let local_address = stream.local_addr().ok().map(|a| a.ip());
        let connection = Connection(Mutex::new(BufReader::new(Stream::Tcp(stream))));
        let nonce = Nonce::random()?;
        let hello = Message::new(
            "initack",
            [
                ("pmiid", rank.to_string().as_str()),
                ("nonce", auth::encode_hex(nonce.as_bytes()).as_str()),
            ],
        );
        let challenge = connection.request(&hello, "challenge")?;
        let proofs = challenge
            .field("nonce")
            .and_then(Proofs::nonce_from)
            .map(|theirs| Proofs::new(&secret, rank, nonce, theirs))
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
        connection.request(&prove, "initack")?;
        Self::welcomed(&connection, rank, size)?;
        let secret = Some(secret);
        let mut client = Self::begin(connection, rank, size, Some(job_id), secret, local_address)?;
        client.rmpirun = true;
        Ok(client)
    }

    /// Joins through the socket a launcher handed down as file descriptor `fd` (`PMI_FD`),
    /// as `rank` of `size` (`PMI_RANK`, `PMI_SIZE`).
    pub fn inherited(fd: i32, rank: usize, size: usize) -> Result<PmiClient> {
        // SAFETY: borrowed for this one fcntl(F_GETFD) alone, which fails harmlessly (EBADF)
        // if the number is not an open descriptor.
        let open =
            fd >= 0 && rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok();
        if !open {
            return Err(Error::Bootstrap(format!(
                "PMI_FD={fd} is not an open file descriptor of this process"
            )));
        }
        // SAFETY: the launcher handed this descriptor down to this process for PMI alone,
        // it is open (checked above), and nothing else in the process takes ownership of it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let connection = Connection(Mutex::new(BufReader::new(Stream::Inherited(
            UnixStream::from(owned),
        ))));
        Self::begin(connection, rank, size, None, None, None)
    }

    /// Joins the server at `address` (`PMI_PORT`, `host:port`) as process `id` (`PMI_ID`);
    /// the server says the rank and size.
    pub fn port(address: &str, id: &str) -> Result<PmiClient> {
        let stream = TcpStream::connect(address).map_err(|e| {
            Error::Bootstrap(format!("cannot reach the PMI server at {address}: {e}"))
        })?;
        stream.set_nodelay(true)?;
        let local_address = stream.local_addr().ok().map(|a| a.ip());
        let connection = Connection(Mutex::new(BufReader::new(Stream::Tcp(stream))));
        connection.request(&Message::new("initack", [("pmiid", id)]), "initack")?;
        let mut stream = connection.0.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rank, mut size) = (None, None);
        for _ in 0..3 {
            let set = Connection::expect(&mut stream, "set")?;
            if let Some(text) = set.field("size") {
                size = Some(parse("size", text)?);
            }
            if let Some(text) = set.field("rank") {
                rank = Some(parse("rank", text)?);
            }
        }
        drop(stream);
        let (Some(rank), Some(size)) = (rank, size) else {
            return Err(Error::Bootstrap(
                "the PMI server did not say this process's rank and size".into(),
            ));
        };
        Self::begin(connection, rank, size, None, None, local_address)
    }

    /// Reads the server's welcome after `initack`: size, rank and debug, which must match.
    fn welcomed(connection: &Connection, rank: usize, size: usize) -> Result<()> {
        let mut stream = connection.0.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..3 {
            let set = Connection::expect(&mut stream, "set")?;
            let said = [("rank", rank), ("size", size)];
            for (name, expected) in said {
                if let Some(text) = set.field(name) {
                    if parse(name, text)? != expected {
                        return Err(Error::Bootstrap(format!(
                            "the launcher says {name} {text}, the environment {expected}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The common part: `init`, the limits, the key-value space; the job's id and secret
    /// (made by rank 0 and shared when the launcher gave none).
    fn begin(
        connection: Connection,
        rank: usize,
        size: usize,
        job_id: Option<String>,
        secret: Option<Vec<u8>>,
        local_address: Option<IpAddr>,
    ) -> Result<PmiClient> {
        if rank >= size {
            return Err(Error::Bootstrap(format!(
                "rank {rank} is out of range for a job of {size}"
            )));
        }
        let init = Message::new("init", [("pmi_version", "1"), ("pmi_subversion", "1")]);
        connection.request(&init, "response_to_init")?;
        let maxes = connection.request(&Message::new("get_maxes", []), "maxes")?;
        let limit = |name: &str, default: usize| -> Result<usize> {
            maxes
                .field(name)
                .map_or(Ok(default), |text| parse(name, text))
        };
        let (key_max, value_max) = (limit("keylen_max", 64)?, limit("vallen_max", 1024)?);
        let reply = connection.request(&Message::new("get_my_kvsname", []), "my_kvsname")?;
        let kvsname = reply
            .field("kvsname")
            .ok_or_else(|| Error::Bootstrap("the launcher named no key-value space".into()))?
            .to_owned();
        let mut client = PmiClient {
            rank,
            size,
            job_id: job_id.unwrap_or_else(|| kvsname.clone()),
            secret: Vec::new(),
            kvsname,
            key_max,
            value_max: value_max.max(16),
            connection: Arc::new(connection),
            local_address,
            rmpirun: false,
        };
        client.secret = match secret {
            Some(secret) => secret,
            None => client.shared_secret()?,
        };
        Ok(client)
    }

    /// Ties this process to the launcher for the rest of its life: it ends when the
    /// connection closes ([`crate::watch`]), and sends `finalize` when it exits. Call it once
    /// the process has joined its job for good ([`crate::bootstrap::from_env`] does).
    pub fn stay_joined(&self) -> Result<()> {
        let watched = self
            .connection
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_ref()
            .try_clone()?;
        at_exit(&self.connection);
        if self.rmpirun {
            let _ = RMPIRUN.set(self.connection.clone());
        }
        crate::watch::end_with_launcher(watched, self.rank, self.job_id.clone(), &FINALIZING)?;
        Ok(())
    }

    /// A secret rank 0 makes and the others read, for launchers that give none.
    fn shared_secret(&self) -> Result<Vec<u8>> {
        const KEY: &str = "rmpi-secret";
        if self.rank == 0 {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)
                .map_err(|e| Error::Bootstrap(format!("no randomness for the job secret: {e}")))?;
            self.put(KEY, &auth::encode_hex(&secret))?;
        }
        self.fence()?;
        auth::decode_hex(&self.get(KEY)?)
            .ok_or_else(|| Error::Bootstrap("rank 0 shared a secret that is not hex".into()))
    }

    /// This end's address of a TCP connection to the launcher: one the job's other hosts
    /// can reach, or loopback when all runs here.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.local_address
    }

    fn put_one(&self, key: &str, value: &str) -> Result<()> {
        if key.len() > self.key_max {
            return Err(Error::Bootstrap(format!(
                "key {key:?} is longer than the launcher's {} bytes",
                self.key_max
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
        self.connection.request(&put, "put_result").map(drop)
    }

    fn get_one(&self, key: &str) -> Result<String> {
        let get = Message::new("get", [("kvsname", self.kvsname.as_str()), ("key", key)]);
        let reply = self.connection.request(&get, "get_result")?;
        reply
            .field("value")
            .map(str::to_owned)
            .ok_or_else(|| Error::Bootstrap(format!("no value under {key}")))
    }
}

/// A long value travels as `@N` under its key and its N parts under `key@0` .. `key@N-1`;
/// so does any value that starts with `@`.
const SPLIT: char = '@';

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
        if value.len() <= self.value_max && !value.starts_with(SPLIT) {
            return self.put_one(key, value);
        }
        let parts: Vec<&str> = value
            .as_bytes()
            .chunks(self.value_max)
            .map(|chunk| std::str::from_utf8(chunk).expect("ASCII"))
            .collect();
        for (index, part) in parts.iter().enumerate() {
            self.put_one(&format!("{key}{SPLIT}{index}"), part)?;
        }
        self.put_one(key, &format!("{SPLIT}{}", parts.len()))
    }

    fn fence(&self) -> Result<()> {
        self.connection
            .request(&Message::new("barrier_in", []), "barrier_out")
            .map(drop)
    }

    fn get(&self, key: &str) -> Result<String> {
        let value = self.get_one(key)?;
        let Some(count) = value.strip_prefix(SPLIT) else {
            return Ok(value);
        };
        let count = parse(key, count)?;
        (0..count)
            .map(|index| self.get_one(&format!("{key}{SPLIT}{index}")))
            .collect()
    }
}

/// Sends `finalize` on `connection` when the process exits.
fn at_exit(connection: &Arc<Connection>) {
    if AT_EXIT.set(connection.clone()).is_err() {
        return;
    }
    extern "C" fn finalize() {
        FINALIZING.store(true, Ordering::SeqCst);
        let Some(connection) = AT_EXIT.get() else {
            return;
        };
        // A thread may be mid-request as the process exits: then there is nothing to do.
        let Ok(mut stream) = connection.0.try_lock() else {
            return;
        };
        let patience = Some(Duration::from_secs(5));
        let _ = match stream.get_ref() {
            Stream::Tcp(s) => s.set_read_timeout(patience),
            Stream::Inherited(s) => s.set_read_timeout(patience),
        };
        let finalize = Message::new("finalize", []).to_line();
        if stream.get_mut().write_all(finalize.as_bytes()).is_ok() {
            let _ = Connection::expect(&mut stream, "finalize_ack");
        }
    }
    // SAFETY: `finalize` is an `extern "C" fn()` that does not unwind (it only returns
    // early or ignores errors) and touches only statics that live for the whole process.
    if unsafe { libc::atexit(finalize) } != 0 {
        tracing::warn!("cannot arrange to finalize PMI at exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ranks joined to a real `rmpirun` rendezvous service, on threads.
    #[cfg(feature = "cli")]
    fn joined_pair(secret: &'static [u8], run: impl Fn(PmiClient) + Send + Sync) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let loopback = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let server = runtime
            .block_on(crate::server::PmiServer::start(
                2,
                "kvs-test",
                secret,
                loopback,
                tokio::sync::mpsc::unbounded_channel().0,
            ))
            .unwrap();
        let address = server.address().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = std::thread::spawn(move || {
            runtime.block_on(async move {
                let _ = stopped.await;
                drop(server);
            });
        });
        std::thread::scope(|scope| {
            for rank in 0..2 {
                let (address, run) = (&address, &run);
                scope.spawn(move || {
                    let client =
                        PmiClient::rmpirun(address, rank, 2, "job".into(), secret.to_vec())
                            .unwrap();
                    run(client);
                });
            }
        });
        let _ = stop.send(());
        serving.join().unwrap();
    }

    #[cfg(feature = "cli")]
    #[test]
    fn values_longer_than_the_servers_limit_travel_in_parts() {
        joined_pair(b"s3cret", |client| {
            let long: String = (0..3000)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let looks_split = "@2".to_string();
            if client.rank() == 0 {
                client.put("long", &long).unwrap();
                client.put("odd", &looks_split).unwrap();
                client.put("short", "plain").unwrap();
            }
            client.fence().unwrap();
            assert_eq!(client.get("long").unwrap(), long);
            assert_eq!(client.get("odd").unwrap(), looks_split);
            assert_eq!(client.get("short").unwrap(), "plain");
            let too_long = "k".repeat(65);
            assert!(client.put(&too_long, "v").is_err());
        });
    }

    #[test]
    fn a_descriptor_that_is_not_open_is_refused() {
        let error = PmiClient::inherited(987_654, 0, 2).unwrap_err();
        assert!(error.to_string().contains("PMI_FD=987654"), "{error}");
    }
}

//! The simulator's socket loop and state file.
//!
//! Owns the listening socket (one request per connection, read to EOF, as
//! qubesd does; each connection on its own thread), the request size limit,
//! persisting the model after each successful call that changes it (a failed
//! call is not saved, as qubesd saves only on success), and `admin.Events`: a
//! connection that asked for them gets `connection-established` and then every
//! event of the system (or of one qube) until it goes away.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

use crate::api::{handle, is_mutating, Outcome};
use crate::model::{Event, System};
use sdw_provision::wire::{Request, MAX_REQUEST};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read state file {path}: {source}")]
    ReadState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a simulator state: {source}")]
    ParseState {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    WriteState {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads the state file, or the stock system if there is none.
pub fn load(state: Option<&Path>) -> Result<System, ServerError> {
    let Some(path) = state else {
        return Ok(System::stock());
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ServerError::ParseState {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(System::stock()),
        Err(source) => Err(ServerError::ReadState {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes the state atomically (temporary file, then rename).
pub fn save(sys: &System, path: &Path) -> Result<(), ServerError> {
    let err = |source| ServerError::WriteState {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(sys).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// An `admin.Events` connection: the events it wants and where to send them.
struct Listener {
    dest: String,
    tx: Sender<Event>,
}

impl Listener {
    fn wants(&self, event: &Event) -> bool {
        self.dest == "dom0" || event.subject == self.dest
    }
}

struct Shared {
    system: Mutex<System>,
    state: Option<PathBuf>,
    listeners: Mutex<Vec<Listener>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct Server {
    listener: UnixListener,
    socket: PathBuf,
    shared: Arc<Shared>,
}

/// A server running on a thread of this process (for tests); stopped when dropped.
pub struct Running {
    socket: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept() so that the loop sees the flag.
        let _ = UnixStream::connect(&self.socket);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Server {
    pub fn bind(socket: &Path, state: Option<PathBuf>) -> Result<Self, ServerError> {
        let system = load(state.as_deref())?;
        // The state file exists before the socket does: a client that can connect can read it.
        if let Some(path) = &state {
            save(&system, path)?;
        }
        if socket.exists() {
            // A stale socket from an earlier run; qubesd replaces it the same way.
            let _ = std::fs::remove_file(socket);
        }
        let listener = UnixListener::bind(socket).map_err(|source| ServerError::Bind {
            path: socket.to_owned(),
            source,
        })?;
        info!(socket = %socket.display(), "qubesd-sim listening");
        Ok(Server {
            listener,
            socket: socket.to_owned(),
            shared: Arc::new(Shared {
                system: Mutex::new(system),
                state,
                listeners: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
            }),
        })
    }

    /// Serves until the process is killed.
    pub fn run(self) -> Result<(), ServerError> {
        self.run_loop();
        Ok(())
    }

    /// Serves on a new thread until the returned [`Running`] is dropped.
    pub fn spawn(self) -> Running {
        let socket = self.socket.clone();
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::spawn(move || self.run_loop());
        Running {
            socket,
            shared,
            thread: Some(thread),
        }
    }

    fn run_loop(self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let shared = Arc::clone(&self.shared);
            std::thread::spawn(move || {
                if let Err(e) = serve(&shared, stream) {
                    warn!(error = %e, "connection failed");
                }
            });
        }
    }
}

fn serve(shared: &Shared, mut stream: UnixStream) -> Result<(), ServerError> {
    let io = |source| ServerError::WriteState {
        path: PathBuf::from("<connection>"),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut request = Vec::new();
    let limit = u64::try_from(MAX_REQUEST + 1).unwrap_or(u64::MAX);
    (&mut stream)
        .take(limit)
        .read_to_end(&mut request)
        .map_err(io)?;
    let req = match Request::decode(&request) {
        Ok(req) => req,
        Err(e) => {
            warn!(error = %e, "framing error, aborting");
            return Ok(());
        }
    };
    let mut system = lock(&shared.system);
    let outcome = handle(&mut system, &req);
    info!(method = %req.method, arg = %req.arg, dest = %req.dest,
          reply = ?reply_kind(&outcome), "call");
    let events = std::mem::take(&mut system.events);
    let succeeded = matches!(&outcome, Outcome::Reply(f) if f.starts_with(b"0"));
    if succeeded && is_mutating(&req.method) {
        if let Some(path) = &shared.state {
            save(&system, path)?;
        }
    }
    match outcome {
        Outcome::Subscribe { dest } => {
            let (tx, rx) = channel();
            // registered while the system is locked: no event is missed or seen twice
            lock(&shared.listeners).push(Listener { dest, tx });
            drop(system);
            stream
                .write_all(&Event::new("", "connection-established", &[]).encode())
                .map_err(io)?;
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(event) => {
                        if stream.write_all(&event.encode()).is_err() {
                            return Ok(());
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if shared.stop.load(Ordering::SeqCst) {
                            return Ok(());
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        }
        Outcome::Reply(frame) => {
            publish(shared, events);
            drop(system);
            stream.write_all(&frame).map_err(io)?;
        }
        Outcome::Abort(_) => drop(system),
    }
    Ok(())
}

/// Hands the events of one call to every listener that wants them; drops the gone ones.
fn publish(shared: &Shared, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let mut listeners = lock(&shared.listeners);
    listeners.retain(|l| {
        events
            .iter()
            .filter(|e| l.wants(e))
            .all(|e| l.tx.send(e.clone()).is_ok())
    });
}

fn reply_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Reply(f) if f.starts_with(b"0") => "ok",
        Outcome::Reply(_) => "exception",
        Outcome::Abort(_) => "abort",
        Outcome::Subscribe { .. } => "events",
    }
}

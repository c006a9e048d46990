//! The simulator's socket loop and state file.
//!
//! Owns the listening socket (one request per connection, read to EOF, as
//! qubesd does), the request size limit and persisting the model after each
//! call that changes it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

use crate::sim::api::{handle, is_mutating, Outcome};
use crate::sim::model::System;
use crate::wire::{Request, MAX_REQUEST};

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

pub struct Server {
    listener: UnixListener,
    system: System,
    state: Option<PathBuf>,
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
            system,
            state,
        })
    }

    /// Serves connections one at a time until the process is killed.
    pub fn run(mut self) -> Result<(), ServerError> {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            if let Err(e) = self.serve(stream) {
                warn!(error = %e, "connection failed");
            }
        }
    }

    fn serve(&mut self, mut stream: UnixStream) -> Result<(), ServerError> {
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
        let outcome = match Request::decode(&request) {
            Ok(req) => {
                let before = self.system.clone();
                let outcome = handle(&mut self.system, &req);
                info!(method = %req.method, arg = %req.arg, dest = %req.dest,
                      reply = ?reply_kind(&outcome), "call");
                if is_mutating(&req.method) && self.system != before {
                    if let Some(path) = &self.state {
                        save(&self.system, path)?;
                    }
                }
                outcome
            }
            Err(e) => {
                warn!(error = %e, "framing error, aborting");
                Outcome::Abort(e.to_string())
            }
        };
        if let Outcome::Reply(frame) = outcome {
            stream.write_all(&frame).map_err(io)?;
        }
        Ok(())
    }
}

fn reply_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Reply(f) if f.starts_with(b"0") => "ok",
        Outcome::Reply(_) => "exception",
        Outcome::Abort(_) => "abort",
    }
}

//! (fx) The HTTP/1.1 transport to cupsd ([`Server`], from the configuration): one
//! `POST` per request (`Connection: close`) over its domain socket or TCP
//! ([`post`]), and the answer read back with `httparse`, bounded in size
//! ([`read_response`]). What the body means (IPP) is [`super::cups`]' job.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub use crate::config::Server;

/// Largest answer body read (a PPD list for one make is far below this).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Largest status line and headers read.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers one answer may have.
const MAX_HEADERS: usize = 64;

/// A failure of the transport.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach the CUPS server {server}: {source}")]
    Connect { server: String, source: io::Error },
    #[error("{0}")]
    Io(io::Error),
    #[error("{0}")]
    Malformed(String),
}

/// An answer: its status code and its whole (de-chunked) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub body: Vec<u8>,
}

/// One request to `server`: `POST resource` with `content_type`, the body
/// `head` followed by the whole `document` (if any), and the answer.
/// `peer_cred` is the user named in CUPS' `PeerCred` authorization, sent on
/// a domain socket only. Reads and writes time out after `timeout`.
pub fn post(
    server: &Server,
    timeout: Duration,
    resource: &str,
    content_type: &str,
    peer_cred: &str,
    head: &[u8],
    document: Option<File>,
) -> Result<Response, HttpError> {
    let document_len = match &document {
        Some(file) => file.metadata().map_err(HttpError::Io)?.len(),
        None => 0,
    };
    let length = (head.len() as u64).saturating_add(document_len);
    let mut request = format!(
        "POST {resource} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\nConnection: close\r\nUser-Agent: sdw-devices\r\n"
    );
    if matches!(server, Server::Socket(_)) {
        request.push_str(&format!("Authorization: PeerCred {peer_cred}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = connect(server, timeout)?;
    stream
        .write_all(request.as_bytes())
        .map_err(HttpError::Io)?;
    stream.write_all(head).map_err(HttpError::Io)?;
    if let Some(mut file) = document {
        let copied = io::copy(&mut file, &mut stream).map_err(HttpError::Io)?;
        if copied != document_len {
            return Err(HttpError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the document changed size while it was sent",
            )));
        }
    }
    stream.flush().map_err(HttpError::Io)?;
    read_response(stream)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn connect(server: &Server, timeout: Duration) -> Result<Box<dyn ReadWrite>, HttpError> {
    let connect = |source| HttpError::Connect {
        server: server.describe(),
        source,
    };
    match server {
        Server::Socket(path) => {
            let stream = UnixStream::connect(path).map_err(connect)?;
            stream.set_read_timeout(Some(timeout)).map_err(connect)?;
            stream.set_write_timeout(Some(timeout)).map_err(connect)?;
            Ok(Box::new(stream))
        }
        Server::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port)).map_err(connect)?;
            stream.set_read_timeout(Some(timeout)).map_err(connect)?;
            stream.set_write_timeout(Some(timeout)).map_err(connect)?;
            Ok(Box::new(stream))
        }
    }
}

/// The status line and headers of an answer, as far as the body needs them.
struct Head {
    code: u16,
    /// Bytes of status line and headers.
    len: usize,
    content_length: Option<usize>,
    chunked: bool,
}

/// Parses the head at the start of `buffer`; `None` while it is incomplete.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(format!("bad HTTP answer: {e}"))),
    };
    let code = response
        .code
        .ok_or_else(|| HttpError::Malformed("no HTTP status".into()))?;
    let mut content_length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Malformed("bad Content-Length".into()))?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    Ok(Some(Head {
        code,
        len,
        content_length,
        chunked,
    }))
}

/// Reads more of `stream` onto `buffer`; the number of bytes read.
fn fill(stream: &mut dyn Read, buffer: &mut Vec<u8>) -> Result<usize, HttpError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HttpError::Io(e)),
        }
    }
}

/// Reads an HTTP/1.x answer to its end: status and body (de-chunked), after
/// any interim (1xx) answers. Bounded: headers to 64 KiB, the body to
/// [`MAX_RESPONSE_BYTES`].
pub fn read_response(mut stream: impl Read) -> Result<Response, HttpError> {
    let stream: &mut dyn Read = &mut stream;
    let too_large = || HttpError::Malformed("answer too large".into());
    let mut buffer = Vec::new();
    let head = loop {
        match parse_head(&buffer)? {
            // 100 Continue and other interim answers precede the real one.
            Some(head) if (100..200).contains(&head.code) => {
                buffer.drain(..head.len);
            }
            Some(head) => break head,
            None if buffer.len() > MAX_HEAD_BYTES => {
                return Err(HttpError::Malformed("headers too long".into()))
            }
            None => {
                if fill(stream, &mut buffer)? == 0 {
                    return Err(HttpError::Malformed("the headers ended early".into()));
                }
            }
        }
    };
    let mut rest = buffer.split_off(head.len);
    let mut body = Vec::new();
    if head.chunked {
        loop {
            let (consumed, size) = match httparse::parse_chunk_size(&rest) {
                Ok(httparse::Status::Complete((consumed, size))) => (consumed, size),
                Ok(httparse::Status::Partial) if rest.len() > MAX_HEAD_BYTES => {
                    return Err(HttpError::Malformed("bad chunk size".into()))
                }
                Ok(httparse::Status::Partial) => {
                    if fill(stream, &mut rest)? == 0 {
                        return Err(HttpError::Malformed("the answer ended early".into()));
                    }
                    continue;
                }
                Err(_) => return Err(HttpError::Malformed("bad chunk size".into())),
            };
            if size == 0 {
                break;
            }
            let size = usize::try_from(size).map_err(|_| too_large())?;
            if body.len().saturating_add(size) > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            // The chunk's data and its CRLF.
            let needed = consumed.saturating_add(size).saturating_add(2);
            while rest.len() < needed {
                if fill(stream, &mut rest)? == 0 {
                    return Err(HttpError::Malformed("the answer ended early".into()));
                }
            }
            body.extend_from_slice(rest.get(consumed..consumed + size).unwrap_or_default());
            rest.drain(..needed);
        }
    } else if let Some(length) = head.content_length {
        if length > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        while rest.len() < length {
            if fill(stream, &mut rest)? == 0 {
                return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        rest.truncate(length);
        body = rest;
    } else {
        body = rest;
        while fill(stream, &mut body)? > 0 {
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
        }
    }
    Ok(Response {
        code: head.code,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Hands out its bytes a few at a time, as a socket may.
    struct Trickle(Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(buf.get_mut(..n).unwrap_or_default())
        }
    }

    #[test]
    fn reads_chunked_and_sized_http_answers() {
        let chunked = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for trickle in [false, true] {
            let response = if trickle {
                read_response(Trickle(Cursor::new(chunked.to_vec()))).unwrap()
            } else {
                read_response(Cursor::new(chunked.to_vec())).unwrap()
            };
            assert_eq!(
                (response.code, response.body.as_slice()),
                (200, b"abcde".as_slice())
            );
        }
        let sized = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nxyz";
        let response = read_response(Cursor::new(sized.to_vec())).unwrap();
        assert_eq!(
            (response.code, response.body.as_slice()),
            (401, b"xy".as_slice())
        );
        let until_closed = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        let response = read_response(Trickle(Cursor::new(until_closed.to_vec()))).unwrap();
        assert_eq!(response.body, b"all of it");
    }

    #[test]
    fn refuses_what_is_not_a_bounded_http_answer() {
        for garbage in [
            b"SSH-2.0-OpenSSH\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nab".to_vec(),
        ] {
            assert!(
                read_response(Cursor::new(garbage.clone())).is_err(),
                "{:?}",
                String::from_utf8_lossy(&garbage)
            );
        }
    }
}

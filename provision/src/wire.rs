//! The Qubes Admin API wire format, both directions.
//!
//! Owns the request header (`method+arg src dest_type dest\0payload`), the
//! response frames (`0\0` success, `1\0` event, `2\0` exception) and the mapping
//! of exception type names to [`QubesError`]. Pure: the transports live in
//! [`crate::admin`], the server in [`crate::sim`].

use thiserror::Error;

/// Largest request qubesd reads before it aborts the connection.
pub const MAX_REQUEST: usize = 65536;

/// Message of `QubesDaemonAccessError` for an empty response, as qubesadmin words it.
pub const EMPTY_RESPONSE: &str =
    "Got empty response from qubesd. See journalctl in dom0 for details.";

/// One Admin API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub arg: String,
    pub src: String,
    pub dest: String,
    pub payload: Vec<u8>,
}

/// Why a request's bytes were refused; qubesd aborts the connection on each.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    #[error("no NUL after the request header")]
    NoHeaderEnd,
    #[error("request header is not ASCII")]
    NotAscii,
    #[error("request header does not have 4 space-separated fields")]
    FieldCount,
    #[error("unknown destination type {0:?}")]
    DestType(String),
}

impl Request {
    pub fn new(method: &str, arg: &str, dest: &str, payload: &[u8]) -> Self {
        Request {
            method: method.to_owned(),
            arg: arg.to_owned(),
            src: "dom0".to_owned(),
            dest: dest.to_owned(),
            payload: payload.to_vec(),
        }
    }

    /// `"{method}+{arg} {src} name {dest}\0{payload}"`, as `QubesLocal` sends it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{}+{} {} name {}\0",
            self.method, self.arg, self.src, self.dest
        )
        .into_bytes();
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses a whole request as qubesd does after EOF.
    pub fn decode(bytes: &[u8]) -> Result<Self, FramingError> {
        if bytes.len() > MAX_REQUEST {
            return Err(FramingError::TooLong);
        }
        let split = bytes
            .iter()
            .position(|b| *b == 0)
            .ok_or(FramingError::NoHeaderEnd)?;
        let (header, rest) = bytes.split_at(split);
        let payload = rest.get(1..).unwrap_or_default();
        let header = std::str::from_utf8(header)
            .ok()
            .filter(|h| h.is_ascii())
            .ok_or(FramingError::NotAscii)?;
        let fields: Vec<&str> = header.split(' ').collect();
        let [method_arg, src, dest_type, dest] = fields.as_slice() else {
            return Err(FramingError::FieldCount);
        };
        let (method, arg) = method_arg.split_once('+').unwrap_or((method_arg, ""));
        let dest = match (*dest_type, *dest) {
            ("name", dest) => dest.to_owned(),
            ("keyword", "adminvm") => "dom0".to_owned(),
            (other, _) => return Err(FramingError::DestType(other.to_owned())),
        };
        Ok(Request {
            method: method.to_owned(),
            arg: arg.to_owned(),
            src: (*src).to_owned(),
            dest,
            payload: payload.to_vec(),
        })
    }
}

/// Success frame: `0\0` + payload.
pub fn encode_success(payload: &[u8]) -> Vec<u8> {
    let mut out = b"0\0".to_vec();
    out.extend_from_slice(payload);
    out
}

/// Exception frame: `2\0` + type `\0` + traceback (empty) `\0` + message `\0`.
pub fn encode_exception(exc_type: &str, message: &str) -> Vec<u8> {
    format!("2\0{exc_type}\0\0{message}\0").into_bytes()
}

/// An Admin API call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QubesError {
    /// Empty response: qubesd aborted (framing, policy or permission denial).
    #[error("{EMPTY_RESPONSE}")]
    Access,
    #[error("Invalid response format")]
    InvalidResponse,
    #[error("{0}")]
    VmNotFound(String),
    #[error("{0}")]
    NoSuchProperty(String),
    #[error("{0}")]
    FeatureNotFound(String),
    #[error("{0}")]
    TagNotFound(String),
    #[error("{0}")]
    VmNotHalted(String),
    #[error("{0}")]
    VmNotStarted(String),
    #[error("{0}")]
    VmInUse(String),
    #[error("{0}")]
    VmAlreadyExists(String),
    /// `QubesValueError` and its subclasses (`QubesPropertyValueError`, …).
    #[error("{message}")]
    Value { exc_type: String, message: String },
    #[error("{0}")]
    Storage(String),
    #[error("{exc_type}: {message}")]
    Other { exc_type: String, message: String },
}

impl QubesError {
    /// The exception class name as qubesd sends it.
    pub fn exc_type(&self) -> &str {
        match self {
            QubesError::Access => "QubesDaemonAccessError",
            QubesError::InvalidResponse => "QubesDaemonCommunicationError",
            QubesError::VmNotFound(_) => "QubesVMNotFoundError",
            QubesError::NoSuchProperty(_) => "QubesNoSuchPropertyError",
            QubesError::FeatureNotFound(_) => "QubesFeatureNotFoundError",
            QubesError::TagNotFound(_) => "QubesTagNotFoundError",
            QubesError::VmNotHalted(_) => "QubesVMNotHaltedError",
            QubesError::VmNotStarted(_) => "QubesVMNotStartedError",
            QubesError::VmInUse(_) => "QubesVMInUseError",
            QubesError::VmAlreadyExists(_) => "QubesVMAlreadyExistsError",
            QubesError::Storage(_) => "StoragePoolException",
            QubesError::Value { exc_type, .. } | QubesError::Other { exc_type, .. } => exc_type,
        }
    }

    pub fn from_exception(exc_type: &str, message: &str) -> Self {
        let message = message.to_owned();
        match exc_type {
            "QubesVMNotFoundError" => QubesError::VmNotFound(message),
            "QubesNoSuchPropertyError" => QubesError::NoSuchProperty(message),
            "QubesFeatureNotFoundError" => QubesError::FeatureNotFound(message),
            "QubesTagNotFoundError" => QubesError::TagNotFound(message),
            "QubesVMNotHaltedError" => QubesError::VmNotHalted(message),
            "QubesVMNotStartedError" => QubesError::VmNotStarted(message),
            "QubesVMInUseError" => QubesError::VmInUse(message),
            "QubesVMAlreadyExistsError" => QubesError::VmAlreadyExists(message),
            "StoragePoolException" => QubesError::Storage(message),
            "QubesValueError" | "QubesPropertyValueError" | "QubesLabelNotFoundError" => {
                QubesError::Value {
                    exc_type: exc_type.to_owned(),
                    message,
                }
            }
            other => QubesError::Other {
                exc_type: other.to_owned(),
                message,
            },
        }
    }

    /// The frame qubesd would send for this error; [`QubesError::Access`] is the empty abort.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            QubesError::Access => Vec::new(),
            other => encode_exception(other.exc_type(), &other.message()),
        }
    }

    fn message(&self) -> String {
        match self {
            QubesError::Other { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Parses a whole response to a non-event call into its success payload.
pub fn decode_response(bytes: &[u8]) -> Result<Vec<u8>, QubesError> {
    match bytes {
        [] => Err(QubesError::Access),
        [b'0', 0, payload @ ..] => Ok(payload.to_vec()),
        [b'2', 0, rest @ ..] => {
            let mut parts = rest.splitn(4, |b| *b == 0);
            let exc_type = parts.next().ok_or(QubesError::InvalidResponse)?;
            let _traceback = parts.next().ok_or(QubesError::InvalidResponse)?;
            let message = parts.next().ok_or(QubesError::InvalidResponse)?;
            // What follows the message is its %-format arguments; qubesd sends none.
            if parts.next().is_none() {
                return Err(QubesError::InvalidResponse);
            }
            let exc_type = String::from_utf8_lossy(exc_type);
            let message = String::from_utf8_lossy(message);
            Err(QubesError::from_exception(&exc_type, &message))
        }
        _ => Err(QubesError::InvalidResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_requests_as_in_the_spec_examples() {
        assert_eq!(
            Request::new("admin.vm.List", "", "dom0", b"").encode(),
            b"admin.vm.List+ dom0 name dom0\x00"
        );
        assert_eq!(
            Request::new("admin.property.Set", "default_dispvm", "dom0", b"sd-viewer").encode(),
            b"admin.property.Set+default_dispvm dom0 name dom0\x00sd-viewer"
        );
        assert_eq!(
            Request::new("admin.vm.Shutdown", "force+wait", "sd-log", b"").encode(),
            b"admin.vm.Shutdown+force+wait dom0 name sd-log\x00"
        );
        assert_eq!(
            Request::new(
                "admin.vm.volume.Resize",
                "private",
                "sd-app",
                b"10737418240"
            )
            .encode(),
            b"admin.vm.volume.Resize+private dom0 name sd-app\x0010737418240"
        );
    }

    #[test]
    fn decodes_the_spec_example_requests() {
        let r = Request::decode(
            b"admin.vm.Create.AppVM+sd-inbox-debian-13 dom0 name dom0\x00name=sd-app label=yellow",
        );
        assert_eq!(
            r,
            Ok(Request {
                method: "admin.vm.Create.AppVM".into(),
                arg: "sd-inbox-debian-13".into(),
                src: "dom0".into(),
                dest: "dom0".into(),
                payload: b"name=sd-app label=yellow".to_vec(),
            })
        );
        let r = Request::decode(b"admin.vm.Shutdown+force+wait dom0 name sd-log\x00");
        assert_eq!(
            r.map(|r| (r.method, r.arg)),
            Ok(("admin.vm.Shutdown".into(), "force+wait".into()))
        );
        let r = Request::decode(b"admin.vm.List+ sys-usb keyword adminvm\x00");
        assert_eq!(
            r.map(|r| (r.src, r.dest)),
            Ok(("sys-usb".into(), "dom0".into()))
        );
    }

    #[test]
    fn refuses_malformed_requests() {
        assert_eq!(
            Request::decode(b"admin.vm.List+ dom0 name dom0"),
            Err(FramingError::NoHeaderEnd)
        );
        assert_eq!(
            Request::decode(b"admin.vm.List+ dom0 dom0\x00"),
            Err(FramingError::FieldCount)
        );
        assert_eq!(
            Request::decode(b"admin.vm.List+ dom0  name dom0\x00"),
            Err(FramingError::FieldCount)
        );
        assert_eq!(
            Request::decode(b"admin.vm.List+ dom0 uuid dom0\x00"),
            Err(FramingError::DestType("uuid".into()))
        );
        assert_eq!(
            Request::decode("admin.vm.List+ d\u{f6}m0 name dom0\0".as_bytes()),
            Err(FramingError::NotAscii)
        );
        let long = vec![b'a'; MAX_REQUEST + 1];
        assert_eq!(Request::decode(&long), Err(FramingError::TooLong));
    }

    #[test]
    fn decodes_success_frames() {
        assert_eq!(decode_response(b"0\x00"), Ok(Vec::new()));
        assert_eq!(
            decode_response(b"0\x00default=False type=vm fedora-43-xfce"),
            Ok(b"default=False type=vm fedora-43-xfce".to_vec())
        );
    }

    #[test]
    fn maps_the_spec_exception_frames_to_typed_errors() {
        assert_eq!(
            decode_response(b"2\x00QubesVMNotFoundError\x00\x00No such domain: 'sd-foo'\x00"),
            Err(QubesError::VmNotFound("No such domain: 'sd-foo'".into()))
        );
        assert_eq!(
            decode_response(
                b"2\x00QubesNoSuchPropertyError\x00\x00Invalid property 'foo' of sd-app\x00"
            ),
            Err(QubesError::NoSuchProperty(
                "Invalid property 'foo' of sd-app".into()
            ))
        );
        assert_eq!(
            decode_response(
                b"2\x00QubesFeatureNotFoundError\x00\x00Feature not set for domain sd-app: foo\x00"
            ),
            Err(QubesError::FeatureNotFound(
                "Feature not set for domain sd-app: foo".into()
            ))
        );
        assert_eq!(
            decode_response(b"2\x00QubesSomethingNewError\x00tb\x00boom\x00"),
            Err(QubesError::Other {
                exc_type: "QubesSomethingNewError".into(),
                message: "boom".into()
            })
        );
    }

    #[test]
    fn an_empty_response_is_an_access_error_with_the_qubesadmin_message() {
        let err = decode_response(b"");
        assert_eq!(err, Err(QubesError::Access));
        assert_eq!(
            QubesError::Access.to_string(),
            "Got empty response from qubesd. See journalctl in dom0 for details."
        );
    }

    #[test]
    fn refuses_other_first_bytes_and_truncated_exceptions() {
        assert_eq!(decode_response(b"3\x00x"), Err(QubesError::InvalidResponse));
        assert_eq!(decode_response(b"0"), Err(QubesError::InvalidResponse));
        assert_eq!(
            decode_response(b"2\x00QubesValueError\x00\x00no terminator"),
            Err(QubesError::InvalidResponse)
        );
    }

    #[test]
    fn exception_frames_round_trip() {
        let err = QubesError::VmNotHalted("Domain is not powered off: 'sd-app'".into());
        assert_eq!(
            err.encode(),
            b"2\x00QubesVMNotHaltedError\x00\x00Domain is not powered off: 'sd-app'\x00".to_vec()
        );
        assert_eq!(decode_response(&err.encode()), Err(err));
    }

    proptest! {
        #[test]
        fn response_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_response(&bytes);
        }

        #[test]
        fn request_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::decode(&bytes);
        }

        #[test]
        fn requests_round_trip(method in "[a-z.A-Z]{1,20}", arg in "[a-z_+]{0,10}", dest in "[a-z0-9-]{1,20}",
                               payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let r = Request::new(&method, &arg, &dest, &payload);
            prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
    }
}

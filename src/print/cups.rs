//! (fx) Talking to cupsd over IPP: device discovery, driver lookup, queue
//! setup, job submission and job state. This module owns the connection to
//! the CUPS server and nothing else; it decides nothing about printers.
//!
//! IPP messages are encoded and decoded by the pure-Rust `ipp` crate, and
//! states and status codes are its types ([`JobState`], [`PrinterState`],
//! [`StatusCode`]); the HTTP/1.1 around them is [`super::http`]'s. The server
//! is the configuration's ([`crate::config::PrintConfig::cups_server`]). On a
//! domain socket the request carries CUPS' `PeerCred` authorization with the
//! name of the calling user (`nix::unistd::User`), which cupsd checks against
//! the socket's peer credentials: administrative operations (queue setup)
//! succeed for root or a member of cupsd's `SystemGroup`.
//!
//! The `ipp` crate's request builders (`IppOperationBuilder`) are not used:
//! of CUPS' own operations they build only `CUPS-Get-Printers` and
//! `CUPS-Delete-Printer`, not `CUPS-Get-Devices`, `CUPS-Get-PPDs` or
//! `CUPS-Add-Modify-Printer`, and their `Print-Job` carries the document
//! inside the request value, where [`super::http::post`] streams the file
//! after the encoded request. So every request here is the crate's
//! `IppRequestResponse` with its attributes added one by one, and every
//! answer is parsed by the crate's `IppParser`.

use std::fs::File;
use std::io::{self, Cursor};
use std::time::Duration;

use ipp::attribute::{IppAttribute, IppAttributes};
use ipp::model::{DelimiterTag, IppVersion, Operation};
pub use ipp::model::{JobState, PrinterState, StatusCode};
use ipp::parser::IppParser;
use ipp::reader::IppReader;
use ipp::request::IppRequestResponse;
use ipp::value::IppValue;
use num_traits::FromPrimitive as _;

pub use super::http::Server;
use super::http::{self, HttpError};

/// A failure talking to cupsd.
#[derive(Debug, thiserror::Error)]
pub enum CupsError {
    #[error("cannot reach the CUPS server {server}: {source}")]
    Connect { server: String, source: io::Error },
    #[error("I/O with the CUPS server during {operation}: {source}")]
    Io {
        operation: &'static str,
        source: io::Error,
    },
    #[error("the CUPS server answered HTTP {code} to {operation}")]
    Http { operation: &'static str, code: u16 },
    #[error("malformed answer from the CUPS server to {operation}: {detail}")]
    Protocol {
        operation: &'static str,
        detail: String,
    },
    #[error("the CUPS server refused {operation}: IPP status {code:#06x} {status} ({message})")]
    Ipp {
        operation: &'static str,
        status: StatusCode,
        /// The status as sent (`status` is `UnknownStatusCode` for codes the
        /// `ipp` crate does not name).
        code: u16,
        message: String,
    },
    #[error("cannot build an IPP request for {operation}: {detail}")]
    Encode {
        operation: &'static str,
        detail: String,
    },
}

impl CupsError {
    /// The IPP status when the server answered with one.
    pub fn ipp_status(&self) -> Option<StatusCode> {
        match self {
            CupsError::Ipp { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_http(operation: &'static str, error: HttpError) -> CupsError {
        match error {
            HttpError::Connect { server, source } => CupsError::Connect { server, source },
            HttpError::Io(source) => CupsError::Io { operation, source },
            HttpError::Malformed(detail) => CupsError::Protocol { operation, detail },
        }
    }
}

/// One device as CUPS' backends report it (`CUPS-Get-Devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `direct`, `network`, `file`, `serial`.
    pub class: String,
    pub uri: String,
    pub info: String,
    pub make_and_model: String,
    /// The IEEE 1284 device ID, e.g. `MFG:Brother;MDL:HL-L2320D series;`.
    pub device_id: String,
}

/// A driver cupsd can install (`CUPS-Get-PPDs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ppd {
    /// What a queue is set up with (`ppd-name`), e.g.
    /// `drv:///brlaser.drv/brl2300d.ppd`.
    pub name: String,
    pub make_and_model: String,
    /// The IEEE 1284 device ID the driver declares it is for (may be empty).
    pub device_id: String,
}

/// The state of a print queue (`Get-Printer-Attributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    pub device_uri: Option<String>,
    pub info: Option<String>,
    pub make_and_model: Option<String>,
    /// `None` when cupsd sent no state or one IPP does not define.
    pub state: Option<PrinterState>,
    pub reasons: Vec<String>,
    pub accepting: bool,
}

/// What a queue says it can do with a job (`Get-Printer-Attributes`): for a
/// CUPS queue, what its driver (PPD, or the IPP Everywhere printer's own
/// attributes) declares. An attribute the queue does not report is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `copies-supported`: the lowest and highest number of copies.
    pub copies: Option<(i32, i32)>,
    /// `page-ranges-supported`.
    pub page_ranges: bool,
    /// `sides-supported`.
    pub sides: Vec<String>,
    /// `media-supported`.
    pub media: Vec<String>,
    /// `print-color-mode-supported`.
    pub color_modes: Vec<String>,
    /// `orientation-requested-supported` (IPP enum values).
    pub orientations: Vec<i32>,
}

/// The job template attributes of one job, as IPP values (RFC 8011 5.2,
/// PWG 5100.13 for `print-color-mode`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTemplate {
    pub copies: Option<i32>,
    /// `(first, last)` pages, ascending.
    pub page_ranges: Vec<(i32, i32)>,
    pub sides: Option<String>,
    pub media: Option<String>,
    pub print_color_mode: Option<String>,
    pub orientation_requested: Option<i32>,
}

/// What cupsd says of a job (`Get-Job-Attributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// `None` when cupsd sent no state or one IPP does not define.
    pub state: Option<JobState>,
    pub reasons: Vec<String>,
    /// Pages printed so far (`job-impressions-completed`), when CUPS counts
    /// them.
    pub pages: Option<i32>,
}

/// A CUPS server, and who we are to it.
#[derive(Debug, Clone)]
pub struct Cups {
    server: Server,
    user: String,
    timeout: Duration,
}

impl Cups {
    /// The CUPS server `server`, asked as the calling user.
    pub fn new(server: Server) -> Cups {
        Cups {
            server,
            user: current_user_name().unwrap_or_else(|| "nobody".into()),
            timeout: Duration::from_secs(60),
        }
    }

    /// Where cupsd listens.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `CUPS-Get-Devices`: what the backends find, waiting at most
    /// `timeout_secs` for slow ones. Network-discovery backends are excluded.
    pub fn devices(&self, timeout_secs: i32) -> Result<Vec<Device>, CupsError> {
        const OP: &str = "CUPS-Get-Devices";
        let mut request = self.request(Operation::CupsGetDevices, None, OP)?;
        operation_attr(&mut request, "timeout", IppValue::Integer(timeout_secs));
        operation_attr(
            &mut request,
            "exclude-schemes",
            IppValue::Array(vec![
                keyword_value("dnssd", OP)?,
                keyword_value("snmp", OP)?,
                keyword_value("lpd", OP)?,
                keyword_value("socket", OP)?,
            ]),
        );
        let response = self.send("/", request, None, OP)?;
        Ok(groups(&response, DelimiterTag::PrinterAttributes)
            .map(|group| Device {
                class: text(group, "device-class").unwrap_or_default(),
                uri: text(group, "device-uri").unwrap_or_default(),
                info: text(group, "device-info").unwrap_or_default(),
                make_and_model: text(group, "device-make-and-model").unwrap_or_default(),
                device_id: text(group, "device-id").unwrap_or_default(),
            })
            .filter(|device| !device.uri.is_empty())
            .collect())
    }

    /// `CUPS-Get-PPDs` for one make: the driver names (`ppd-name`) cupsd can
    /// install.
    pub fn driver_names(&self, make: &str) -> Result<Vec<String>, CupsError> {
        const OP: &str = "CUPS-Get-PPDs";
        let mut request = self.request(Operation::CupsGetPPDs, None, OP)?;
        operation_attr(&mut request, "ppd-make", text_value(make, OP)?);
        operation_attr(
            &mut request,
            "requested-attributes",
            keyword_value("ppd-name", OP)?,
        );
        let response = self.send("/", request, None, OP)?;
        Ok(groups(&response, DelimiterTag::PrinterAttributes)
            .filter_map(|group| text(group, "ppd-name"))
            .collect())
    }

    /// `CUPS-Get-PPDs` with `ppd-device-id`: the drivers cupsd finds for an
    /// IEEE 1284 device ID (matched on its make and model, or on its make
    /// alone when the ID has no model). None found is an empty list.
    pub fn drivers_for_device_id(&self, device_id: &str) -> Result<Vec<Ppd>, CupsError> {
        const OP: &str = "CUPS-Get-PPDs";
        let mut request = self.request(Operation::CupsGetPPDs, None, OP)?;
        operation_attr(&mut request, "ppd-device-id", text_value(device_id, OP)?);
        operation_attr(
            &mut request,
            "requested-attributes",
            IppValue::Array(vec![
                keyword_value("ppd-name", OP)?,
                keyword_value("ppd-make-and-model", OP)?,
                keyword_value("ppd-device-id", OP)?,
            ]),
        );
        let response = match self.send("/", request, None, OP) {
            Ok(response) => response,
            Err(e) if e.ipp_status() == Some(StatusCode::ClientErrorNotFound) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        Ok(groups(&response, DelimiterTag::PrinterAttributes)
            .filter_map(|group| {
                Some(Ppd {
                    name: text(group, "ppd-name")?,
                    make_and_model: text(group, "ppd-make-and-model").unwrap_or_default(),
                    device_id: text(group, "ppd-device-id").unwrap_or_default(),
                })
            })
            .collect())
    }

    /// `Get-Printer-Attributes` of a local queue; `None` when there is no such
    /// queue.
    pub fn queue(&self, name: &str) -> Result<Option<QueueState>, CupsError> {
        const OP: &str = "Get-Printer-Attributes";
        let request = self.request(Operation::GetPrinterAttributes, Some(name), OP)?;
        let response = match self.send("/", request, None, OP) {
            Ok(response) => response,
            Err(e) if e.ipp_status() == Some(StatusCode::ClientErrorNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let group = groups(&response, DelimiterTag::PrinterAttributes).next();
        Ok(Some(QueueState {
            device_uri: group.and_then(|g| text(g, "device-uri")),
            info: group.and_then(|g| text(g, "printer-info")),
            make_and_model: group.and_then(|g| text(g, "printer-make-and-model")),
            state: group
                .and_then(|g| integer(g, "printer-state"))
                .and_then(PrinterState::from_i32),
            reasons: group
                .map(|g| texts(g, "printer-state-reasons"))
                .unwrap_or_default(),
            accepting: group
                .and_then(|g| g.get("printer-is-accepting-jobs"))
                .is_some_and(|a| matches!(a.value(), IppValue::Boolean(true))),
        }))
    }

    /// `Get-Printer-Attributes` of a local queue, asking for what it supports.
    pub fn capabilities(&self, queue: &str) -> Result<Capabilities, CupsError> {
        const OP: &str = "Get-Printer-Attributes";
        let mut request = self.request(Operation::GetPrinterAttributes, Some(queue), OP)?;
        let mut wanted = Vec::new();
        for name in [
            "copies-supported",
            "page-ranges-supported",
            "sides-supported",
            "media-supported",
            "print-color-mode-supported",
            "orientation-requested-supported",
        ] {
            wanted.push(keyword_value(name, OP)?);
        }
        operation_attr(
            &mut request,
            "requested-attributes",
            IppValue::Array(wanted),
        );
        let response = self.send("/", request, None, OP)?;
        let Some(group) = groups(&response, DelimiterTag::PrinterAttributes).next() else {
            return Ok(Capabilities::default());
        };
        let values = |name: &str| -> Vec<IppValue> {
            match group.get(name).map(|a| a.value()) {
                Some(IppValue::Array(values)) => values.clone(),
                Some(value) => vec![value.clone()],
                None => Vec::new(),
            }
        };
        Ok(Capabilities {
            copies: match group.get("copies-supported").map(|a| a.value()) {
                Some(IppValue::RangeOfInteger { min, max }) => Some((*min, *max)),
                Some(IppValue::Integer(n)) => Some((1, *n)),
                _ => None,
            },
            page_ranges: group
                .get("page-ranges-supported")
                .is_some_and(|a| matches!(a.value(), IppValue::Boolean(true))),
            sides: texts(group, "sides-supported"),
            media: texts(group, "media-supported"),
            color_modes: texts(group, "print-color-mode-supported"),
            orientations: values("orientation-requested-supported")
                .iter()
                .filter_map(|v| match v {
                    IppValue::Enum(n) | IppValue::Integer(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        })
    }

    /// `CUPS-Add-Modify-Printer`: creates or changes the queue `name`, enabled
    /// and accepting jobs, aborting a job (rather than stopping the queue) when
    /// the backend fails. `driver` is a `ppd-name` (`everywhere` for IPP
    /// Everywhere); `None` keeps the queue's current driver.
    pub fn set_up_queue(
        &self,
        name: &str,
        device_uri: &str,
        driver: Option<&str>,
        info: &str,
    ) -> Result<(), CupsError> {
        const OP: &str = "CUPS-Add-Modify-Printer";
        let mut request = self.request(Operation::CupsAddModifyPrinter, Some(name), OP)?;
        let printer = |request: &mut IppRequestResponse, name: &str, value: IppValue| {
            request.attributes_mut().add(
                DelimiterTag::PrinterAttributes,
                IppAttribute::new(name_of(name), value),
            );
        };
        printer(&mut request, "device-uri", uri_value(device_uri, OP)?);
        if let Some(driver) = driver {
            printer(&mut request, "ppd-name", name_value(driver, OP)?);
        }
        printer(&mut request, "printer-info", text_value(info, OP)?);
        printer(
            &mut request,
            "printer-is-accepting-jobs",
            IppValue::Boolean(true),
        );
        printer(
            &mut request,
            "printer-state",
            IppValue::Enum(PrinterState::Idle as i32),
        );
        printer(
            &mut request,
            "printer-error-policy",
            name_value("abort-job", OP)?,
        );
        self.send("/admin/", request, None, OP).map(|_| ())
    }

    /// `Print-Job`: sends `file` to the queue as `format`, with the job
    /// template attributes `template` asks for; returns the job id.
    pub fn print_file(
        &self,
        queue: &str,
        file: File,
        format: &str,
        title: &str,
        template: &JobTemplate,
    ) -> Result<i32, CupsError> {
        const OP: &str = "Print-Job";
        let mut request = self.request(Operation::PrintJob, Some(queue), OP)?;
        operation_attr(&mut request, "job-name", name_value(title, OP)?);
        operation_attr(
            &mut request,
            "document-format",
            IppValue::MimeMediaType(format.try_into().map_err(|e| encode(OP, e))?),
        );
        let mut job = |name: &str, value: IppValue| {
            request.attributes_mut().add(
                DelimiterTag::JobAttributes,
                IppAttribute::new(name_of(name), value),
            );
        };
        if let Some(copies) = template.copies {
            job("copies", IppValue::Integer(copies));
        }
        if !template.page_ranges.is_empty() {
            let ranges = template
                .page_ranges
                .iter()
                .map(|&(min, max)| IppValue::RangeOfInteger { min, max })
                .collect::<Vec<_>>();
            job(
                "page-ranges",
                match <[IppValue; 1]>::try_from(ranges) {
                    Ok([one]) => one,
                    Err(many) => IppValue::Array(many),
                },
            );
        }
        if let Some(sides) = &template.sides {
            job("sides", keyword_value(sides, OP)?);
        }
        if let Some(media) = &template.media {
            job("media", keyword_value(media, OP)?);
        }
        if let Some(mode) = &template.print_color_mode {
            job("print-color-mode", keyword_value(mode, OP)?);
        }
        if let Some(orientation) = template.orientation_requested {
            job("orientation-requested", IppValue::Enum(orientation));
        }
        let response = self.send("/", request, Some(file), OP)?;
        let job_id =
            groups(&response, DelimiterTag::JobAttributes).find_map(|g| integer(g, "job-id"));
        job_id.ok_or(CupsError::Protocol {
            operation: OP,
            detail: "no job-id in the answer".into(),
        })
    }

    /// `Get-Job-Attributes`.
    pub fn job(&self, job_id: i32) -> Result<JobStatus, CupsError> {
        const OP: &str = "Get-Job-Attributes";
        let mut request = self.request(Operation::GetJobAttributes, None, OP)?;
        operation_attr(&mut request, "job-uri", uri_value(&job_uri(job_id), OP)?);
        let response = self.send("/", request, None, OP)?;
        let group = groups(&response, DelimiterTag::JobAttributes).next();
        Ok(JobStatus {
            state: group
                .and_then(|g| integer(g, "job-state"))
                .and_then(JobState::from_i32),
            reasons: group
                .map(|g| texts(g, "job-state-reasons"))
                .unwrap_or_default(),
            pages: group.and_then(|g| integer(g, "job-impressions-completed")),
        })
    }

    /// `Cancel-Job`, purging its files.
    pub fn cancel(&self, job_id: i32) -> Result<(), CupsError> {
        const OP: &str = "Cancel-Job";
        let mut request = self.request(Operation::CancelJob, None, OP)?;
        operation_attr(&mut request, "job-uri", uri_value(&job_uri(job_id), OP)?);
        operation_attr(&mut request, "purge-job", IppValue::Boolean(true));
        self.send("/jobs/", request, None, OP).map(|_| ())
    }

    fn request(
        &self,
        operation: Operation,
        queue: Option<&str>,
        op: &'static str,
    ) -> Result<IppRequestResponse, CupsError> {
        let mut request = IppRequestResponse::new(IppVersion::v2_0(), operation, None)
            .map_err(|e| encode(op, e))?;
        if let Some(queue) = queue {
            operation_attr(
                &mut request,
                "printer-uri",
                uri_value(&queue_uri(queue), op)?,
            );
        }
        operation_attr(
            &mut request,
            "requesting-user-name",
            name_value(&self.user, op)?,
        );
        Ok(request)
    }

    /// One HTTP POST carrying an IPP request (and a document), and its decoded
    /// answer; an IPP error status becomes [`CupsError::Ipp`].
    fn send(
        &self,
        resource: &str,
        request: IppRequestResponse,
        document: Option<File>,
        operation: &'static str,
    ) -> Result<IppAttributes, CupsError> {
        let response = http::post(
            &self.server,
            self.timeout,
            resource,
            "application/ipp",
            &self.user,
            &request.to_bytes(),
            document,
        )
        .map_err(|e| CupsError::from_http(operation, e))?;
        if response.code != 200 {
            return Err(CupsError::Http {
                operation,
                code: response.code,
            });
        }
        let parsed = IppParser::new(IppReader::new(Cursor::new(response.body)))
            .parse()
            .map_err(|e| CupsError::Protocol {
                operation,
                detail: e.to_string(),
            })?;
        // A negative (out of range) status is an error like any other.
        let code = u16::try_from(parsed.header().operation_or_status).unwrap_or(u16::MAX);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::UnknownStatusCode);
        let attributes = parsed.attributes().clone();
        if !status.is_success() {
            let message = attributes
                .groups_of(DelimiterTag::OperationAttributes)
                .find_map(|g| text(g, "status-message"))
                .unwrap_or_default();
            return Err(CupsError::Ipp {
                operation,
                status,
                code,
                message,
            });
        }
        Ok(attributes)
    }
}

/// The `ipp://localhost/printers/NAME` URI of a local queue.
pub fn queue_uri(name: &str) -> String {
    format!("ipp://localhost/printers/{name}")
}

fn job_uri(id: i32) -> String {
    format!("ipp://localhost/jobs/{id}")
}

/// The name of the calling user (`getpwuid`), for CUPS' `PeerCred`
/// authorization.
fn current_user_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|user| user.name)
}

fn groups(
    attributes: &IppAttributes,
    tag: DelimiterTag,
) -> impl Iterator<Item = &ipp::attribute::IppAttributeGroup> {
    attributes.groups_of(tag)
}

fn text(group: &ipp::attribute::IppAttributeGroup, name: &str) -> Option<String> {
    group.get(name).and_then(|a| scalar_text(a.value()))
}

fn texts(group: &ipp::attribute::IppAttributeGroup, name: &str) -> Vec<String> {
    match group.get(name).map(|a| a.value()) {
        Some(IppValue::Array(values)) => values.iter().filter_map(scalar_text).collect(),
        Some(value) => scalar_text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

fn scalar_text(value: &IppValue) -> Option<String> {
    match value {
        IppValue::TextWithoutLanguage(_)
        | IppValue::NameWithoutLanguage(_)
        | IppValue::Keyword(_)
        | IppValue::Uri(_)
        | IppValue::UriScheme(_)
        | IppValue::MimeMediaType(_) => Some(value.to_string()),
        IppValue::TextWithLanguage { text, .. } => Some(text.to_string()),
        IppValue::NameWithLanguage { name, .. } => Some(name.to_string()),
        _ => None,
    }
}

fn integer(group: &ipp::attribute::IppAttributeGroup, name: &str) -> Option<i32> {
    match group.get(name).map(|a| a.value()) {
        Some(IppValue::Integer(i) | IppValue::Enum(i)) => Some(*i),
        _ => None,
    }
}

fn operation_attr(request: &mut IppRequestResponse, name: &str, value: IppValue) {
    request.attributes_mut().add(
        DelimiterTag::OperationAttributes,
        IppAttribute::new(name_of(name), value),
    );
}

fn name_of(name: &str) -> ipp::value::IppName {
    ipp::value::IppName::new_truncated(name)
}

fn encode(operation: &'static str, e: impl std::fmt::Display) -> CupsError {
    CupsError::Encode {
        operation,
        detail: e.to_string(),
    }
}

fn uri_value(uri: &str, op: &'static str) -> Result<IppValue, CupsError> {
    IppValue::new_uri(uri).map_err(|e| encode(op, e))
}

fn name_value(name: &str, op: &'static str) -> Result<IppValue, CupsError> {
    IppValue::new_name_without_language(name).map_err(|e| encode(op, e))
}

fn text_value(text: &str, op: &'static str) -> Result<IppValue, CupsError> {
    IppValue::new_text_without_language(text).map_err(|e| encode(op, e))
}

fn keyword_value(keyword: &str, op: &'static str) -> Result<IppValue, CupsError> {
    IppValue::new_keyword(keyword).map_err(|e| encode(op, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calling_user_has_a_name() {
        // Tests run as some local account; PeerCred needs its name.
        assert!(current_user_name().is_some_and(|n| !n.is_empty()));
    }

    #[test]
    fn ipp_states_and_codes_come_from_the_ipp_crate() {
        assert_eq!(JobState::from_i32(9), Some(JobState::Completed));
        assert_eq!(PrinterState::from_i32(5), Some(PrinterState::Stopped));
        assert_eq!(PrinterState::from_i32(0), None);
        assert_eq!(
            StatusCode::from_u16(0x0406),
            Some(StatusCode::ClientErrorNotFound)
        );
    }
}

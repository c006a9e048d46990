//! Entry points for fuzzers (`provision/fuzz/`): each takes arbitrary bytes and
//! must never panic. Kept in the library so the targets stay one line each
//! (the simulator's request target is `qubesd_sim::fuzzing::request`).

use crate::config::Dom0Config;
use crate::wire::decode_response;

/// `config.json` text through every rule.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Dom0Config::parse_str(text);
    }
}

/// A qubesd response through the client's frame parser.
pub fn response(data: &[u8]) {
    let _ = decode_response(data);
}

//! Entry points for fuzzers (`provision/fuzz/`): each takes arbitrary bytes and
//! must never panic. Kept in the library so the targets stay one line each.

use crate::config::Dom0Config;
use crate::sim::{api, model::System};
use crate::wire::{decode_response, Request};

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

/// A request through the simulator's framing and dispatch, as qubesd would see it.
pub fn request(data: &[u8]) {
    if let Ok(request) = Request::decode(data) {
        let mut system = System::stock();
        let _ = api::handle(&mut system, &request);
    }
}

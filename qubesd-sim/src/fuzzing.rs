//! Entry point for the fuzzer of `provision/fuzz/`: arbitrary bytes must never panic.

use sdw_provision::wire::Request;

use crate::{api, model::System};

/// A request through the simulator's framing and dispatch, as qubesd would see it.
pub fn request(data: &[u8]) {
    if let Ok(request) = Request::decode(data) {
        let mut system = System::stock();
        let _ = api::handle(&mut system, &request);
    }
}

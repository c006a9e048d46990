#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sdw_protocol::Metadata::parse_request(data);
});

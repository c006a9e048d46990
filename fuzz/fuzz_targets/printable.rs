#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sdw_protocol::printable::classify(data);
});

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let by_head = sdw_protocol::printable::classify(data);
    let whole = sdw_protocol::printable::classify_file(&mut std::io::Cursor::new(data));
    // Reading from memory cannot fail, and only a zip's central directory
    // can change the answer the first bytes gave.
    match whole {
        Ok(kind) => assert!(kind == by_head || data.starts_with(b"PK\x03\x04")),
        Err(e) => panic!("reading from memory failed: {e}"),
    }
});

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let status = sdw_protocol::Status::from_untrusted_stderr(data);
    assert!(status == sdw_protocol::Status::UnexpectedReturnStatus || data.ends_with(status.as_str().as_bytes()) || data.windows(status.as_str().len()).any(|w| w == status.as_str().as_bytes()));
});

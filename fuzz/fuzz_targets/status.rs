#![no_main]
use sdw_protocol::{Status, StatusReader};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let status = Status::from_untrusted_stderr(data);
    // A believed word is in the output.
    assert!(
        status == Status::UnexpectedReturnStatus
            || data
                .windows(status.as_str().len())
                .any(|w| w == status.as_str().as_bytes())
    );
    // Read as a stream, in pieces sized by the first byte, it reads the same.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut reader = StatusReader::new();
    for piece in data.chunks(step) {
        reader.push(piece);
    }
    assert_eq!(reader.status(), status);
});

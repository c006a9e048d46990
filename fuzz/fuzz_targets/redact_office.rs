#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sdw_redact::fuzzing::office(data));

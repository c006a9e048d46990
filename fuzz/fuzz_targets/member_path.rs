#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sdw_devices::archive::fuzzing::member_path(data));

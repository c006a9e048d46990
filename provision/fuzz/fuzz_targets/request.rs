#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qubesd_sim::fuzzing::request(data));

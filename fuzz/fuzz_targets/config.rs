#![no_main]
//! `duende_runtime::fuzzing::config` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| duende_runtime::fuzzing::config(data));

#![no_main]
//! `duende_runtime::fuzzing::render_kubernetes` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| duende_runtime::fuzzing::render_kubernetes(data));

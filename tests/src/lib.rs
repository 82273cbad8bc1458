//! Integration tests that build and drive real daemon binaries.
